import GossipCore
import GossipSimulator
import Testing

/// Membership never waits behind other classes, and other classes never wait forever behind
/// membership (issue 9, broadcast classes), in a whole simulated cluster.
@Suite struct BroadcastClassScenarioTests {
    static func event(_ i: Int) -> Message {
        .dead(Dead(incarnation: 0, name: "event-\(i)-" + String(repeating: "p", count: 64), from: "x", left: false))
    }

    /// Boots `n` nodes, converges, optionally loads every node with `events` queued user-class
    /// updates, crashes one node and returns the virtual time until every live member declared
    /// it failed.
    static func detection(seed: UInt64, nodes n: Int, events: Int) throws -> (first: Int64, last: Int64)? {
        let sim = Simulation(seed: seed)
        for _ in 0..<n { try sim.addNode() }
        for i in 1..<n { sim.join(i, through: [0, 1, 2].filter { $0 != i }, after: .milliseconds(20 * i)) }
        guard sim.run(upTo: .seconds(60), until: { sim.metrics.converged }) else { return nil }
        sim.run(for: .seconds(2))
        for v in 0..<n {
            for e in 0..<events { sim.enqueueBroadcast(v, event(e), key: .userEvent(time: UInt64(v * events + e), origin: "t")) }
        }
        sim.crash(n / 2)
        sim.run(upTo: .seconds(120)) { sim.metrics.crashes.last?.lastDetection != nil }
        guard let c = sim.metrics.crashes.last, let first = c.firstDetection, let last = c.lastDetection else { return nil }
        return (first - c.at, last - c.at)
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func aCrashIsDetectedAsFastWithTenThousandEventsQueued(seed: UInt64) throws {
        let quiet = try #require(try Self.detection(seed: seed, nodes: 40, events: 0), "seed \(seed): no detection")
        let loaded = try #require(try Self.detection(seed: seed, nodes: 40, events: 10_000), "seed \(seed): no detection")
        // The same probe schedule finds the crash; only the dissemination of the verdict could
        // be slowed by the queued events, and membership fills datagrams first. One protocol
        // period of slack covers the different random draws of the two runs.
        #expect(loaded.first <= quiet.first + 1_000_000_000, "seed \(seed): first \(loaded.first) vs \(quiet.first)")
        #expect(loaded.last <= quiet.last + 1_000_000_000, "seed \(seed): last \(loaded.last) vs \(quiet.last)")
    }

    @Test(arguments: [1, 2] as [UInt64])
    func queuedEventsLeaveWithinTheirRetransmitLimitWhileMembershipChurns(seed: UInt64) throws {
        let n = 30
        let sim = Simulation(seed: seed)
        for _ in 0..<n { try sim.addNode() }
        for i in 1..<n { sim.join(i, through: [0], after: .milliseconds(20 * i)) }
        #expect(sim.run(upTo: .seconds(60)) { sim.metrics.converged })
        for e in 0..<100 { sim.enqueueBroadcast(0, Self.event(e), key: .userEvent(time: UInt64(e), origin: "t")) }
        // Churn: every node changes its tags every 200 ms, more news than a datagram holds.
        for round in 0..<150 {
            for v in 0..<n { sim.setTags(v, ["round": "\(round)", "padding": String(repeating: "x", count: 40)]) }
            sim.run(for: .milliseconds(200))
            if sim.core(0).pendingBroadcasts(of: .userEvent) == 0 { break }
        }
        #expect(sim.core(0).pendingBroadcasts(of: .userEvent) == 0, "seed \(seed): events still queued")
        #expect(sim.core(0).droppedBroadcasts(of: .userEvent) == 0)
        #expect(sim.core(0).pendingBroadcasts(of: .membership) > 0, "membership was churning all along")
    }
}
