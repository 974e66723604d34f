import GossipCore
import GossipSimulator
import Testing

/// Issue 23: members invented by an unauthenticated packet must not slow the detector. A formed
/// cluster of eight is told of 1,024 members that do not exist (they never answer a probe), then
/// one real member's host dies (no ICMP: the simulator has no kernel). Their silence must not
/// count against any node's own health (Lifeguard's multiplier would otherwise stretch every probe
/// of the real members up to eightfold), and the crash must still be found by everyone. Both
/// are known issues now: the first fix for them cost Lifeguard its benefit around a slow node.
@Suite struct InventedMembersTests {
    @Test(arguments: [UInt64(1), 2, 3])
    func inventedMembersDoNotRaiseHealthOrHideACrash(seed: UInt64) throws {
        var settings = Settings()
        settings.maxMembersLearnedPerExchange = 1_024
        let sim = Simulation(seed: seed, settings: settings)
        let cluster = try sim.addFormedCluster(count: 8)
        sim.run(for: .seconds(5))
        for k in 0..<(1_024 / 8) {
            let messages = (0..<8).map { j in
                let i = k * 8 + j
                return Message.alive(
                    Alive(incarnation: 0, name: "invented-\(i)", address: Address(ipv4: 0x0b00_0000 + UInt32(i), port: 7946), tags: Tags()))
            }
            sim.inject(0, datagram: messages, from: Address(ipv4: 0x0b0f_0000, port: 7946))
        }
        // Long enough for the invented members to spread and for their probes to go unanswered.
        var worstHealth = 0
        for _ in 0..<30 {
            sim.run(for: .seconds(1))
            for i in cluster { worstHealth = max(worstHealth, sim.core(i).localHealth) }
        }
        #expect(sim.core(0).knownMembers.count > 1_000, "node 0 took the invented members in")
        // Not met: leaving such probes out of the health score cost Lifeguard its benefit
        // around a slow node (`FailureDetector.PendingProbe.missedEvent`); issue 23 stays open.
        withKnownIssue("unanswered probes of never-heard-from members still raise local health") {
            #expect(worstHealth == 0, "unanswered probes of never-heard-from members raised local health to \(worstHealth)")
        }

        let victim = cluster.upperBound - 1
        let victimName = sim.name(of: victim)
        let crashedAt = sim.elapsed
        sim.crash(victim)
        let survivors = cluster.dropLast()
        let found = sim.run(upTo: .seconds(120)) {
            survivors.allSatisfy { sim.core($0).member(named: victimName)?.status == .failed }
        }
        let seconds = Double((sim.elapsed - crashedAt).components.seconds)
            + Double((sim.elapsed - crashedAt).components.attoseconds) / 1e18
        print("seed \(seed): crash found by all \(survivors.count) survivors after \(seconds) s of virtual time; worst local health before it \(worstHealth), after it \(survivors.map { sim.core($0).localHealth })")
        // Not met while the invented members' silence raises health (above): every probe is
        // stretched, and the crash is not found by all within 120 s.
        withKnownIssue("a crash among invented members is not found by all within 120 s", isIntermittent: true) {
            #expect(found, "the crash was found by every survivor")
        }
    }
}
