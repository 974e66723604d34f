import GossipCore
import GossipSimulator
import Testing

/// What a library user's own tests rely on: the events each node emits, chosen names, and time
/// as `Duration`.
@Suite struct LibraryUseTests {
    @Test(arguments: [1, 2, 3] as [UInt64])
    func theObserverSeesJoinedUpdatedFailedAndLeftInOrder(seed: UInt64) throws {
        let sim = Simulation(seed: seed)
        for name in ["a", "b", "c", "d"] { try sim.addNode(name: name) }
        var seen: [(kind: MembershipEvent.Kind, name: String)] = []
        var all: [[MembershipEvent]] = Array(repeating: [], count: 4)
        sim.observeEvents { node, event in
            all[node].append(event)
            if node == 0, event.kind != .suspected { seen.append((event.kind, event.member.name)) }
        }
        for i in 1..<4 { sim.join(i, through: [0]) }
        #expect(sim.run(upTo: .seconds(30)) { sim.metrics.converged }, "seed \(seed)")
        let joined = seen.filter { $0.kind == .joined }.map(\.name)
        #expect(Set(joined) == ["a", "b", "c", "d"] && joined.count == 4, "seed \(seed): \(seen)")
        #expect(seen.allSatisfy { $0.kind == .joined }, "seed \(seed): \(seen)")

        sim.setTags(1, ["role": "db"])
        #expect(sim.run(upTo: .seconds(10)) { seen.last.map { $0 == (.updated, "b") } ?? false }, "seed \(seed)")
        sim.crash(2)
        #expect(sim.run(upTo: .seconds(60)) { seen.last.map { $0 == (.failed, "c") } ?? false }, "seed \(seed)")
        sim.leave(3)
        #expect(sim.run(upTo: .seconds(10)) { seen.last.map { $0 == (.left, "d") } ?? false }, "seed \(seed)")
        sim.run(for: .seconds(5))
        let after = seen.dropFirst(4).map { "\($0.kind) \($0.name)" }
        #expect(after == ["updated b", "failed c", "left d"], "seed \(seed): nothing else reached node a")

        // The events carry the member as the node's view holds it.
        let last = try #require(all[0].last)
        #expect(sim.core(0).member(named: "d") == last.member, "seed \(seed)")
        #expect(all[1].contains { $0.kind == .updated && $0.member.tags["role"] == "db" }, "seed \(seed): b saw its own tags")
    }

    @Test func nodesTakeTheNamesATestChooses() throws {
        let sim = Simulation(seed: 1)
        let api = try sim.addNode(name: "api")
        let unnamed = try sim.addNode()
        #expect(sim.name(of: api) == "api")
        #expect(sim.core(api).name == "api")
        #expect(sim.name(of: unnamed) == Simulation.defaultName(of: unnamed))
        #expect(sim.node(named: "api") == api)
        #expect(sim.node(named: "nobody") == nil)
        #expect(throws: SimulationError.duplicateName("api")) { try sim.addNode(name: "api") }
        #expect(throws: SimulationError.self) { try sim.addNode(name: "") }
        #expect(throws: SimulationError.self) { try sim.addNode(name: "bad\u{202E}name") }
        #expect(sim.nodeCount == 2, "a refused node is not added")
    }

    @Test func timeIsADurationAndConditionalRunsStopWhenTheConditionHolds() throws {
        let sim = Simulation(seed: 1)
        for _ in 0..<3 { try sim.addNode() }
        for i in 1..<3 { sim.join(i, through: [0]) }
        #expect(sim.elapsed == .zero)
        sim.run(for: .milliseconds(1500))
        #expect(sim.elapsed == .milliseconds(1500))
        #expect(sim.run(upTo: .seconds(1)) { true })
        #expect(sim.elapsed == .milliseconds(1500), "a condition already true runs nothing")
        #expect(!sim.run(upTo: .seconds(2)) { false })
        #expect(sim.elapsed == .milliseconds(3500), "a condition never true runs the whole limit")
        let target = sim.elapsed + .seconds(1)
        #expect(sim.run(upTo: .seconds(10)) { sim.elapsed >= target })
        #expect(sim.elapsed >= target && sim.elapsed < target + .seconds(1), "stops at the first event past the target")
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func aRestartedMemberComesBackAtANewAddress(seed: UInt64) throws {
        let sim = Simulation(seed: seed)
        for _ in 0..<20 { try sim.addNode() }
        for i in 1..<20 { sim.join(i, through: [0]) }
        #expect(sim.run(upTo: .seconds(60)) { sim.metrics.converged }, "seed \(seed)")
        sim.crash(7)
        sim.run(upTo: .seconds(60)) { sim.metrics.crashes.last?.lastDetection != nil }
        #expect(sim.core(0).member(named: "node-7")?.status == .failed, "seed \(seed)")

        let moved = Address(ipv4: 0x0A00_1007, port: 7946)
        try sim.restart(7, at: moved, joining: [0])
        let back = sim.run(upTo: .seconds(60)) { sim.metrics.converged }
        #expect(back, "seed \(seed): every node sees the restarted member alive again")
        for i in 0..<20 where i != 7 {
            #expect(sim.core(i).member(named: "node-7")?.address == moved, "seed \(seed), node \(i)")
        }
        #expect(sim.core(7).currentIncarnation > 0, "it overtook the accusation by refuting it")
    }
}

/// The runtime's restart path, simulated: a restarted node resumes one above the incarnation
/// its snapshot recorded and rejoins through the members it knew, with no seed given.
@Test(arguments: [1, 2, 3] as [UInt64])
func aRestartedMemberResumesFromItsSnapshotWithoutSeeds(seed: UInt64) throws {
    let sim = Simulation(seed: seed)
    for _ in 0..<12 { try sim.addNode() }
    for i in 1..<12 { sim.join(i, through: [0]) }
    #expect(sim.run(upTo: .seconds(60), until: { sim.metrics.converged }), "seed \(seed)")
    sim.setTags(5, ["role": "db"])
    sim.run(for: .seconds(2))
    let recorded = sim.core(5).currentIncarnation
    #expect(recorded >= 1, "setting tags raised the incarnation")
    sim.crash(5)
    sim.run(upTo: .seconds(60), until: { sim.metrics.crashes.last?.lastDetection != nil })
    #expect(sim.core(0).member(named: "node-5")?.status == .failed, "seed \(seed)")

    try sim.restart(5)
    #expect(sim.core(5).currentIncarnation == recorded + 1, "one above the recorded incarnation")
    let back = sim.run(upTo: .seconds(60), until: { sim.metrics.converged })
    #expect(back, "seed \(seed): rejoined through the members it knew")
    #expect(sim.core(5).knownMembers.filter { $0.status == .alive }.count == 12)
    for i in 0..<12 where i != 5 {
        #expect(sim.core(i).member(named: "node-5")?.status == .alive, "seed \(seed), node \(i)")
    }
}
