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

/// The runtime's restart path, simulated: a restarted node resumes one above the incarnation
/// its snapshot recorded and rejoins through the members it knew, with no seed given.
@Test(arguments: [1, 2, 3] as [UInt64])
func aRestartedMemberResumesFromItsSnapshotWithoutSeeds(seed: UInt64) throws {
    let sim = Simulation(seed: seed)
    for _ in 0..<12 { try sim.addNode() }
    for i in 1..<12 { sim.join(i, through: [0]) }
    #expect(sim.run(until: .zero + .seconds(60)) { !sim.metrics.converged }, "seed \(seed)")
    sim.setTags(5, ["role": "db"])
    sim.run(for: .seconds(2))
    let recorded = sim.core(5).currentIncarnation
    #expect(recorded >= 1, "setting tags raised the incarnation")
    sim.crash(5)
    sim.run(until: sim.time + .seconds(60)) { sim.metrics.crashes.last?.lastDetection == nil }
    #expect(sim.core(0).member(named: "node-5")?.status == .failed, "seed \(seed)")

    try sim.restart(5)
    #expect(sim.core(5).currentIncarnation == recorded + 1, "one above the recorded incarnation")
    let back = sim.run(until: sim.time + .seconds(60)) { !sim.metrics.converged }
    #expect(back, "seed \(seed): rejoined through the members it knew")
    #expect(sim.core(5).knownMembers.filter { $0.status == .alive }.count == 12)
    for i in 0..<12 where i != 5 {
        #expect(sim.core(i).member(named: "node-5")?.status == .alive, "seed \(seed), node \(i)")
    }
}
