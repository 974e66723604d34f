import GossipCore
import GossipSimulator
import Testing

/// The example of Docs/SIMULATION.md, kept compiling and passing here.
@Test func documentationExampleFiveNodesDetectACrash() throws {
    var settings = Settings()
    settings.probeInterval = .milliseconds(500)
    settings.probeTimeout = .milliseconds(200)
    let sim = Simulation(seed: 7, settings: settings, network: NetworkModel(loss: 0.01))
    for _ in 0..<5 { try sim.addNode() }
    for i in 1..<5 { sim.join(i, through: [0]) }

    let converged = sim.run(until: .zero + .seconds(30)) { !sim.metrics.converged }
    #expect(converged)

    sim.crash(3)
    sim.run(for: .seconds(30))
    for i in [0, 1, 2, 4] {
        #expect(sim.core(i).member(named: "node-3")?.status == .failed)
    }
    #expect(sim.metrics.falsePositives.isEmpty)
}

@Test(arguments: [1, 2, 3] as [UInt64])
func aRestartedMemberComesBackAtANewAddress(seed: UInt64) throws {
    let sim = Simulation(seed: seed)
    for _ in 0..<20 { try sim.addNode() }
    for i in 1..<20 { sim.join(i, through: [0]) }
    #expect(sim.run(until: .zero + .seconds(60)) { !sim.metrics.converged }, "seed \(seed)")
    sim.crash(7)
    sim.run(until: sim.time + .seconds(60)) { sim.metrics.crashes.last?.lastDetection == nil }
    #expect(sim.core(0).member(named: "node-7")?.status == .failed, "seed \(seed)")

    let moved = Address(ipv4: 0x0A00_1007, port: 7946)
    try sim.restart(7, at: moved, joining: [0])
    let back = sim.run(until: sim.time + .seconds(60)) { !sim.metrics.converged }
    #expect(back, "seed \(seed): every node sees the restarted member alive again")
    for i in 0..<20 where i != 7 {
        #expect(sim.core(i).member(named: "node-7")?.address == moved, "seed \(seed), node \(i)")
    }
    #expect(sim.core(7).currentIncarnation > 0, "it overtook the accusation by refuting it")
}
