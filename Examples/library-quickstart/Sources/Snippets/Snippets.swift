// The fragments of Docs/LIBRARY.md, each a region of this file (compiled, not run): what a
// fragment uses without defining it is defined here, outside its region.
import Gossip

func replace(everything rows: [String: [StateRow]], unavailable: Set<String>) {}
func apply(_ change: RowChange) {}

func followTheReplica(_ node: GossipNode) async throws {
    // docs: begin state-changes
    let changes = await node.stateChanges()          // subscribe before writing, to see your own rows too
    try await node.writeRow(table: "endpoints", key: "02:42:ac:11:00:02", value: Array("10.0.0.2".utf8))
    for await update in changes {
        switch update {
        case .snapshot(let s), .lost(let s): replace(everything: s.rows, unavailable: s.unavailableOwners)
        case .change(let c): apply(c)               // c.kind: added, updated, removed, ownerUnavailable, ownerAvailable
        }
    }
    // docs: end state-changes
}

func rotateTheKey(_ node: GossipNode) async throws {
    // docs: begin rotate-keys
    let old = try await node.keys()[0]                                        // the primary until now
    let new = SecretKey.random()
    var report = try await node.installKeyEverywhere(new)                     // 1. every member opens with it too
    if report.isComplete { report = try await node.useKeyEverywhere(new) }    // 2. every member seals with it
    if report.isComplete { report = try await node.removeKeyEverywhere(old) } // 3. the old key opens nowhere
    print(report)                          // who applied the last step, who failed and why, who did not answer
    print(try await node.keysEverywhere()) // per key: how many members hold it, how many seal with it
    // docs: end rotate-keys
}
