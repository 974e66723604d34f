/// A whole cluster's membership, every member alive and confirmed, built once and shared by
/// every node created with `GossipInstance.init(formedWith:…)`: the state a cluster reaches
/// after its joins settled, without the N² log N deliveries of getting there. For the
/// simulator's large runs; not public API.
///
/// Sharing is Swift copy-on-write: every node's table points at the same arrays and index
/// until that node changes a member (a suspicion, a new incarnation), when it copies its own.
package struct FormedMembership: Sendable {
    let members: [Member]
    let positionByName: [String: Int]
    let confirmed: [Bool]

    /// - Parameter members: every member once by name (a repeated name traps); each is set
    ///   alive, confirmed, with status changed at time zero.
    package init(_ members: [Member]) {
        var all = members
        for i in all.indices {
            all[i].status = .alive
            all[i].statusChangedAt = .zero
        }
        self.members = all
        self.positionByName = Dictionary(uniqueKeysWithValues: all.enumerated().map { ($1.name, $0) })
        self.confirmed = Array(repeating: true, count: all.count)
    }

    package var count: Int { members.count }
}

extension MemberTable {
    /// A table of the whole formed membership, whose first probe round starts at `roundStart`.
    init(formed m: FormedMembership, roundStart: Int) {
        self.init(sharing: m.members, positionByName: m.positionByName, confirmed: m.confirmed, roundStart: roundStart)
    }
}

extension GossipInstance {
    /// The node at `index` of a formed cluster: it knows every member alive and confirmed from
    /// the start, and on `.start` probes, gossips and exchanges as a member of a settled cluster.
    ///
    /// Every node of the cluster shares one probe order, each starting its first round at its
    /// own random position, instead of holding its own shuffle: the same cyclic order, offset
    /// per node, until a node's first round ends and it shuffles its own copy (SWIM's
    /// guarantee of one probe per member per round holds; the rounds of different nodes are
    /// correlated, not independent, during the first round).
    ///
    /// - Throws: `SettingsError` as `init(name:…)` for the member's name, incarnation and the settings.
    package init(formedWith membership: FormedMembership, index: Int, settings: Settings, seed: UInt64) throws(SettingsError) {
        let me = membership.members[index]
        try self.init(
            name: me.name, address: me.address, tags: me.tags, settings: settings, seed: seed, incarnation: me.incarnation)
        table = MemberTable(formed: membership, roundStart: rng.index(below: membership.count))
    }
}
