import GossipCore
import GossipSimulator
import Testing

/// Serf orders join and leave intents by a membership Lamport clock so that a stale leave never
/// beats a newer join. Here a member's own incarnation plays that part: only the member raises
/// it, every intent about it carries it, and a higher one wins (a per-member Lamport clock,
/// carried in every alive, dead and push/pull entry).
@Suite struct IntentOrderTests {
    @Test(arguments: [1, 2, 3] as [UInt64], [false, true])
    func aStaleLeaveNeverBeatsANewerJoin(seed: UInt64, losingSnapshot: Bool) throws {
        let sim = Simulation(seed: seed)
        let nodes = try sim.addFormedCluster(count: 6)
        sim.run(for: .seconds(2))
        sim.leave(5)
        #expect(sim.run(upTo: .seconds(30)) { nodes.dropLast().allSatisfy { sim.core($0).member(named: "node-5")?.status == .left } })
        let leftAt = try #require(sim.core(0).member(named: "node-5")?.incarnation)
        // It comes back: from its snapshot (incarnation above the leave) or from a wiped disk
        // (incarnation 0, below the leave the cluster remembers: it must refute).
        try sim.restart(5, joining: [0], losingSnapshot: losingSnapshot)
        #expect(sim.run(upTo: .seconds(30)) { nodes.allSatisfy { sim.core($0).member(named: "node-5")?.status == .alive } })
        // The old goodbye, delayed in the network, reaches every member after the rejoin.
        let stale = Dead(incarnation: leftAt, name: "node-5", from: "node-5", left: true)
        for i in nodes.dropLast() { sim.inject(i, datagram: [.dead(stale)], from: sim.address(of: 5)) }
        sim.run(for: .seconds(10))
        for i in nodes {
            let m = try #require(sim.core(i).member(named: "node-5"))
            #expect(m.status == .alive, "seed \(seed): node-\(i) sees node-5 \(m.status) after a stale leave")
            #expect(m.incarnation > leftAt)
        }
    }
}
