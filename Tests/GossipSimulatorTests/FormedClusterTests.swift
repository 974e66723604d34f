import GossipCore
import GossipSimulator
import Testing

/// A cluster that is formed from the start (`Simulation.addFormedCluster`), the way the
/// large-cluster measurements run: it must behave as a settled cluster, not a joining one.
@Suite struct FormedClusterTests {
    static let seeds: [UInt64] = [1, 2, 3]

    @Test(arguments: seeds)
    func everyNodeKnowsEveryOtherAliveFromTheStart(seed: UInt64) throws {
        let sim = Simulation(seed: seed)
        let nodes = try sim.addFormedCluster(count: 200)
        #expect(nodes == 0..<200)
        #expect(sim.metrics.converged)
        sim.run(for: .seconds(10))
        #expect(sim.metrics.converged)
        #expect(sim.metrics.suspicions == 0)
        for i in nodes {
            let core = sim.core(i)
            #expect(core.liveCount == 200)
            #expect(core.knownMembers.count == 200)
            #expect(core.member(named: sim.name(of: i))?.status == .alive)
        }
        let names = Set(sim.core(7).knownMembers.map(\.name))
        #expect(names == Set(nodes.map { sim.name(of: $0) }))
    }

    /// Nodes share one probe order, each from its own random start: a node's first round
    /// still probes every other member exactly once.
    @Test(arguments: seeds)
    func theFirstProbeRoundPassesEveryMemberOnce(seed: UInt64) throws {
        let sim = Simulation(seed: seed)
        var probed: [String: Int] = [:]
        sim.transport = { _, messages in
            for case .ping(let p) in messages where p.source == "node-0" { probed[p.target, default: 0] += 1 }
            return messages
        }
        try sim.addFormedCluster(count: 20)
        // The first probe comes within one period of the start, one per period after it.
        sim.run(for: sim.settings.probeInterval * 19)
        #expect(probed.count == 19)
        #expect(probed.values.allSatisfy { $0 == 1 })
        #expect(probed["node-0"] == nil)
    }

    @Test(arguments: seeds)
    func aCrashInAFormedClusterIsDetectedByEveryoneWithoutFalsePositives(seed: UInt64) throws {
        var o = ScenarioOptions()
        o.nodes = 200
        o.seed = seed
        o.formed = true
        let r = try Scenario.crash.run(o)
        let comment: Comment = "\(r.summary())\nreplay: \(r.replayCommand)"
        #expect(r.convergence == .zero, comment)
        #expect(r.lastDetection != nil, comment)
        #expect(r.falsePositives == 0, comment)
        #expect(r.converged, comment)
        #expect(r.replayCommand.hasSuffix("--formed"), comment)
    }
}
