import GossipCore
import GossipSimulator
import Testing

@Test(arguments: [1, 2, 3] as [UInt64])
func fiveNodesDetectACrash(seed: UInt64) throws {
    var settings = Settings()
    settings.probeInterval = .milliseconds(500)
    settings.probeTimeout = .milliseconds(200)
    let sim = Simulation(seed: seed, settings: settings, network: NetworkModel(loss: 0.01))
    let names = ["api", "db", "cache", "queue", "web"]
    for name in names { try sim.addNode(name: name) }
    for i in 1..<names.count { sim.join(i, through: [0]) }

    // What "api" would read from `events()` in the runtime.
    var seenByAPI: [MembershipEvent] = []
    sim.observeEvents { node, event in
        if node == 0 { seenByAPI.append(event) }
    }

    // Run until every node sees every other, or give up after 30 virtual seconds.
    let converged = sim.run(upTo: .seconds(30)) { sim.metrics.converged }
    #expect(converged, "seed \(seed)")

    let cache = try #require(sim.node(named: "cache"))
    sim.crash(cache)
    let crashedAt = sim.elapsed
    let detected = sim.run(upTo: .seconds(30)) { seenByAPI.last?.kind == .failed }
    #expect(detected, "seed \(seed)")
    #expect(seenByAPI.last?.member.name == "cache", "seed \(seed)")
    #expect(sim.elapsed - crashedAt < .seconds(30), "seed \(seed)")
    #expect(sim.metrics.falsePositives.isEmpty, "seed \(seed)")
}
