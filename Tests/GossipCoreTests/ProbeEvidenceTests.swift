import GossipCore
import Testing

/// A probe's failure is evidence against the life of the member it probed: its incarnation at
/// its address. Found live (`LibraryUserTests`, a member restarted from its snapshot, 1 run in
/// 20 under load): a probe sent while the member was down was still open when it came back
/// at a higher incarnation, and its deadline suspected the new incarnation.
@Suite struct ProbeEvidenceTests {
    static let seeds: [UInt64] = [1, 7, 42, 1_000_003]

    /// The probed member comes back at a higher incarnation while the probe is open.
    static func restartDuringProbe(_ h: inout Harness) throws -> (name: String, address: Address) {
        let target = try UnreachableTests.probe(&h)
        let m = try #require(h.node.member(named: target.name))
        h.receive(.alive(Alive(incarnation: m.incarnation + 1, name: m.name, address: m.address, tags: Tags())), from: m.name)
        #expect(h.node.member(named: target.name)?.incarnation == m.incarnation + 1)
        return target
    }

    @Test("an unanswered probe of a member that restarted meanwhile suspects nobody", arguments: seeds)
    func silenceOfThePreviousLifeAccusesNobody(seed: UInt64) throws {
        var h = try Harness(members: 5, seed: seed)
        let target = try Self.restartDuringProbe(&h)
        h.fire(.failureDetector(.probeTimeout))
        h.fire(.failureDetector(.probeDeadline))
        #expect(h.node.member(named: target.name)?.status == .alive)
        #expect(h.node.suspicionCount == 0)
        #expect(h.node.counters.suspicionsRaised == 0)
        #expect(!h.sent.flatMap(\.messages).contains { if case .suspect = $0 { true } else { false } })
    }

    @Test("an unanswered probe of the same life still suspects it, at the incarnation probed", arguments: seeds)
    func silenceOfTheSameLifeAccusesIt(seed: UInt64) throws {
        var h = try Harness(members: 5, seed: seed)
        let target = try UnreachableTests.probe(&h)
        let probed = try #require(h.node.member(named: target.name)).incarnation
        h.fire(.failureDetector(.probeTimeout))
        h.fire(.failureDetector(.probeDeadline))
        let m = try #require(h.node.member(named: target.name))
        #expect(m.status == .suspect)
        #expect(m.incarnation == probed)
    }

    @Test("port unreachable for a datagram sent before the member restarted is ignored", arguments: seeds)
    func refusalOfThePreviousLifeIsIgnored(seed: UInt64) throws {
        var h = try Harness(members: 5, seed: seed)
        let target = try Self.restartDuringProbe(&h)
        h.feed(.unreachable(target.address))
        #expect(h.node.member(named: target.name)?.status == .alive)
        #expect(h.node.counters.unreachableEvidence == 0)
        #expect(h.node.counters.unreachableIgnored == 1)
        #expect(h.node.suspicionCount == 0)
    }
}
