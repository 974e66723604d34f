import GossipCore
import Testing

/// Issue 23: a crashed process is found at once (the kernel's port-unreachable answer to a
/// probe hastens the suspicion), and invented members do not count against this node's health.
@Suite struct UnreachableTests {
    static let seeds: [UInt64] = [1, 7, 42, 1_000_003]

    /// Starts a probe and returns the probed member's name and address.
    static func probe(_ h: inout Harness) throws -> (name: String, address: Address) {
        let out = h.fire(.failureDetector(.probe))
        for case .datagram(let to, let messages) in out {
            if let p = messages.compactMap(\.ping).first { return (p.target, to) }
        }
        Issue.record("no probe was sent")
        throw CancellationError()
    }

    @Test("a port-unreachable answer to a probe suspects the member at once, tells it, and fails it after one probe timeout", arguments: seeds)
    func evidenceHastensTheSuspicion(seed: UInt64) throws {
        var h = try Harness(members: 5, seed: seed)
        let target = try Self.probe(&h)
        let start = h.now
        h.outputs.removeAll()
        h.feed(.unreachable(target.address))
        #expect(h.node.member(named: target.name)?.status == .suspect)
        #expect(h.node.counters.unreachableEvidence == 1)
        let told = h.sent.filter { $0.to == target.address }.flatMap(\.messages)
        #expect(told.contains { if case .suspect(let s) = $0 { s.name == target.name } else { false } }, "the member is told directly")
        let full = Formulas.suspicionMinimum(
            multiplier: h.node.settings.suspicionMultiplier, members: h.node.liveCount,
            probeInterval: h.node.settings.probeInterval)
        let earliest = try #require(h.timers.filter { $0.id.kind == .failureDetector(.suspicion) }.map(\.at).min())
        #expect(earliest == start + h.node.settings.probeTimeout)
        #expect(earliest < start + full)
        h.fire(.failureDetector(.suspicion))
        #expect(h.node.member(named: target.name)?.status == .failed)
    }

    @Test("a member that refutes after the evidence is not failed", arguments: seeds)
    func refutationHolds(seed: UInt64) throws {
        var h = try Harness(members: 5, seed: seed)
        let target = try Self.probe(&h)
        h.feed(.unreachable(target.address))
        h.receive(.alive(Alive(incarnation: 1, name: target.name, address: target.address, tags: Tags())), from: target.name)
        #expect(h.node.member(named: target.name)?.status == .alive)
        h.fire(.failureDetector(.suspicion))
        #expect(h.node.member(named: target.name)?.status == .alive)
        #expect(!h.events.contains { $0.kind == .failed })
    }

    @Test("port unreachable from an address that is not the probed member's is ignored", arguments: seeds)
    func otherAddressesAreIgnored(seed: UInt64) throws {
        var h = try Harness(members: 5, seed: seed)
        let target = try Self.probe(&h)
        let other = try #require(h.node.knownMembers.first { $0.name != target.name && $0.name != h.node.name })
        var samePortElsewhere = target.address
        samePortElsewhere.port &+= 1
        for forged in [other.address, samePortElsewhere, Address(ipv4: 0x0A00_0001, port: 7946)] {
            h.feed(.unreachable(forged))
        }
        #expect(h.node.counters.unreachableIgnored == 3)
        #expect(h.node.counters.unreachableEvidence == 0)
        #expect(h.node.knownMembers.allSatisfy { $0.status == .alive })
        #expect(h.node.suspicionCount == 0)
    }

    @Test("port unreachable with no probe open, or twice for one probe, is ignored", arguments: seeds)
    func withoutAnOpenProbeIsIgnored(seed: UInt64) throws {
        var h = try Harness(members: 5, seed: seed)
        let unprobed = try #require(h.node.knownMembers.first { $0.name != h.node.name })
        h.feed(.unreachable(unprobed.address))
        #expect(h.node.member(named: unprobed.name)?.status == .alive)
        let target = try Self.probe(&h)
        h.feed(.unreachable(target.address))
        h.outputs.removeAll()
        h.feed(.unreachable(target.address))
        #expect(h.sent.isEmpty, "the second refusal (drawn by the accusation itself) sends nothing")
        #expect(h.node.counters.unreachableEvidence == 1)
        #expect(h.node.counters.unreachableIgnored == 2)
    }

    @Test("evidence against a member already suspect brings its deadline forward", arguments: seeds)
    func suspectMemberIsHastened(seed: UInt64) throws {
        var h = try Harness(members: 5, seed: seed)
        let target = try Self.probe(&h)
        let m = try #require(h.node.member(named: target.name))
        h.receive(.suspect(Suspect(incarnation: m.incarnation, name: m.name, from: "peer-x")), from: "peer-x")
        #expect(h.node.member(named: target.name)?.status == .suspect)
        let before = h.now
        h.feed(.unreachable(target.address))
        h.fire(.failureDetector(.suspicion))
        #expect(h.now == before + h.node.settings.probeTimeout)
        #expect(h.node.member(named: target.name)?.status == .failed)
    }

    @Test("a member accused in a datagram answers the accuser directly with its refutation", arguments: seeds)
    func refutationGoesToTheAccuser(seed: UInt64) throws {
        var h = try Harness(members: 3, seed: seed)
        let accuser = Harness.peer(1)
        h.receive(.suspect(Suspect(incarnation: 0, name: h.node.name, from: accuser)), from: accuser)
        let direct = h.sent.filter { $0.to == Harness.address(accuser) }.flatMap(\.messages).compactMap(\.alive)
        #expect(direct.contains { $0.name == h.node.name && $0.incarnation == 1 })
    }

    /// One protocol period in which nobody answers, except the members in `answering`.
    static func silentPeriod(_ h: inout Harness, answering: Set<String> = []) -> [String] {
        let out = h.fire(.failureDetector(.probe))
        var targets: [String] = []
        for case .datagram(let to, let messages) in out {
            for p in messages.compactMap(\.ping) {
                targets.append(p.target)
                if answering.contains(p.target) { h.feed(.datagram(from: to, messages: [.ack(Ack(sequence: p.sequence))])) }
            }
        }
        for kind in [TimerKind.failureDetector(.probeTimeout), .failureDetector(.probeDeadline)] {
            while h.timers.contains(where: { $0.id.kind == kind }) { h.fire(kind) }
        }
        return targets
    }

    /// One protocol period in which every member in `answering` acks the probe at once, and the
    /// helpers asked for an indirect probe send their nacks if they are in `nacking`.
    static func period(_ h: inout Harness, answering: Set<String> = [], nacking: Set<Address> = []) -> (targets: [String], helpers: [Address]) {
        var targets: [String] = []
        for case .datagram(let to, let messages) in h.fire(.failureDetector(.probe)) {
            for p in messages.compactMap(\.ping) {
                targets.append(p.target)
                if answering.contains(p.target) { h.feed(.datagram(from: to, messages: [.ack(Ack(sequence: p.sequence))])) }
            }
        }
        var helpers: [Address] = []
        while h.timers.contains(where: { $0.id.kind == .failureDetector(.probeTimeout) }) {
            for case .datagram(let to, let messages) in h.fire(.failureDetector(.probeTimeout)) {
                for case .indirectPing(let ip) in messages {
                    helpers.append(to)
                    if nacking.contains(to) { h.feed(.datagram(from: to, messages: [.nack(Nack(sequence: ip.sequence))])) }
                }
            }
        }
        while h.timers.contains(where: { $0.id.kind == .failureDetector(.probeDeadline) }) { h.fire(.failureDetector(.probeDeadline)) }
        return (targets, helpers)
    }

    @Test("members never heard from are not asked to relay while members heard directly can be: their nacks keep an invented member's silence from raising local health", arguments: seeds)
    func inventedSilenceDoesNotCountWhileRealHelpersAnswer(seed: UInt64) throws {
        var h = try Harness(members: 40, seed: seed, confirmed: false)
        let real = (0..<4).map(Harness.peer)
        for r in real { h.node.markHeardDirectly(r) }
        let realAddresses = Set(real.map(Harness.address))
        var helpers: [Address] = []
        var probedInvented = 0
        for _ in 0..<24 {
            let p = Self.period(&h, answering: Set(real), nacking: realAddresses)
            helpers += p.helpers
            probedInvented += p.targets.filter { !real.contains($0) }.count
        }
        #expect(probedInvented > 0, "members never heard from were probed")
        #expect(!helpers.isEmpty && helpers.allSatisfy(realAddresses.contains), "only members heard directly relay: \(helpers.count) helpers")
        #expect(h.node.localHealth == 0, "the invented members' silence raised local health to \(h.node.localHealth)")
    }

    @Test("with no member heard directly (a slow node early on), unanswered probes still raise local health", arguments: seeds)
    func silenceOfTheUnconfirmedCountsWhenNobodyIsConfirmed(seed: UInt64) throws {
        var h = try Harness(members: 3, seed: seed, confirmed: false)
        var probed: [String] = []
        for _ in 0..<6 { probed += Self.silentPeriod(&h) }
        #expect(probed.count == 6)
        // Lifeguard's evidence of this node's own slowness: taking it away made Lifeguard worse
        // than none around a slow node (`ScenarioTests.lifeguardReducesFalsePositivesAroundASlowNode`).
        #expect(h.node.localHealth > 0)
    }

    @Test("a member heard directly once, then silent, raises local health", arguments: seeds)
    func silenceOfAConfirmedMemberCounts(seed: UInt64) throws {
        var h = try Harness(members: 3, seed: seed, confirmed: false)
        var probed: [String] = []
        // One answers once, so it is confirmed; then it goes silent.
        let first = Self.silentPeriod(&h, answering: Set(h.node.knownMembers.map(\.name)))
        #expect(first.count == 1)
        probed = []
        for _ in 0..<6 { probed += Self.silentPeriod(&h) }
        #expect(probed.contains(first[0]), "the confirmed member was probed again")
        #expect(h.node.localHealth > 0)
    }
}
