import GossipCore
import Testing

/// A member that stops answering for a while (SIGSTOP, a long garbage-collection stop) and then
/// resumes must refute before anyone declares it failed (Docs/benchmarks/DETECTION.md, "Pause").
@Suite struct PauseToleranceTests {
    /// The suspicion timeout once every expected confirmation is in, for a cluster of `n` (this
    /// node included): `max(suspicionFloorIntervals, 4 * log10(n)) * probeInterval`.
    static func shortestSuspicion(members n: Int, settings: Settings) throws -> Duration {
        var h = try Harness(members: n - 1, settings: settings)
        let b = Harness.peer(0)
        for accuser in 1...3 {
            h.receive(.suspect(Suspect(incarnation: 0, name: b, from: Harness.peer(accuser))), from: Harness.peer(accuser))
        }
        let deadline = try #require(h.deadline(of: .failureDetector(.suspicion)))
        return deadline - h.now
    }

    @Test(arguments: [5, 10, 32, 56])
    func noSuspicionEndsBeforeThePauseTolerance(members n: Int) throws {
        let s = Settings()
        let formula = Formulas.suspicionMinimum(multiplier: s.suspicionMultiplier, members: n, probeInterval: s.probeInterval)
        let floor = s.probeInterval * s.suspicionFloorIntervals
        #expect(floor == .seconds(7))
        #expect(formula < floor, "memberlist's minimum at \(n) members is shorter than the floor")
        #expect(try Self.shortestSuspicion(members: n, settings: s) == floor)
    }

    @Test(arguments: [57, 100, 1000])
    func largerClustersKeepMemberlistsMinimum(members n: Int) throws {
        let s = Settings()
        let formula = Formulas.suspicionMinimum(multiplier: s.suspicionMultiplier, members: n, probeInterval: s.probeInterval)
        #expect(formula > s.probeInterval * s.suspicionFloorIntervals)
        #expect(abs(try Self.shortestSuspicion(members: n, settings: s) - formula) < .milliseconds(1))
    }

    /// A cluster tuned for fast detection keeps it: the floor is in probe intervals.
    @Test func theFloorScalesWithTheProbeInterval() throws {
        var s = Settings()
        s.probeInterval = .milliseconds(200)
        s.probeTimeout = .milliseconds(100)
        #expect(try Self.shortestSuspicion(members: 5, settings: s) == .milliseconds(1_400))
    }

    @Test func aZeroFloorGivesMemberlistsTiming() throws {
        var s = Settings()
        s.suspicionFloorIntervals = 0
        #expect(abs(try Self.shortestSuspicion(members: 32, settings: s) - .milliseconds(6_020)) < .milliseconds(1))
    }

    @Test func theFloorIsValidated() {
        for bad in [-1, 101] {
            var s = Settings()
            s.suspicionFloorIntervals = bad
            #expect(throws: SettingsError.self) { try s.validate() }
            do { try s.validate() } catch { #expect(error.setting == "suspicionFloorIntervals") }
        }
    }

    /// After a pause the node finds its accusers' messages in its backlog. The first accuser
    /// and its confirmers started their timers first; gossip alone reached one of them too late
    /// in the simulator (`grapevine-sim pause`), so each is told directly.
    @Test func aRefutingNodeTellsEachAccuserDirectlyOnce() throws {
        var h = try Harness(members: 4)
        let gossiper = Harness.peer(3)
        // The first accusation arrives by gossip, from a member that is not the accuser.
        h.receive(.suspect(Suspect(incarnation: 0, name: "a", from: Harness.peer(0))), from: gossiper)
        #expect(h.node.currentIncarnation == 1)
        func told(_ member: String) -> Int {
            h.sent.filter { d in
                d.to == Harness.address(member)
                    && d.messages.contains { if case .alive(let a) = $0 { a.name == "a" && a.incarnation == 1 } else { false } }
            }.count
        }
        #expect(told(gossiper) >= 1, "the datagram's sender hears the refutation")
        #expect(told(Harness.peer(0)) >= 1, "the accuser hears it directly, not only by gossip")
        // A confirmation from another member, now stale: that member is told too, once.
        h.outputs.removeAll()
        h.receive(.suspect(Suspect(incarnation: 0, name: "a", from: Harness.peer(1))), from: gossiper)
        #expect(h.node.currentIncarnation == 1, "a stale accusation is not refuted again")
        #expect(told(Harness.peer(1)) == 1)
        h.outputs.removeAll()
        h.receive(.suspect(Suspect(incarnation: 0, name: "a", from: Harness.peer(1))), from: gossiper)
        h.receive(.suspect(Suspect(incarnation: 0, name: "a", from: Harness.peer(0))), from: gossiper)
        #expect(told(Harness.peer(1)) == 0, "once per accuser and incarnation")
        #expect(told(Harness.peer(0)) == 0)
    }

    @Test func anAccuserTheNodeDoesNotKnowIsNotTold() throws {
        var h = try Harness(members: 2)
        h.receive(.suspect(Suspect(incarnation: 0, name: "a", from: "nobody")), from: Harness.peer(0))
        #expect(h.node.currentIncarnation == 1)
        let destinations = Set(h.sent.map(\.to))
        #expect(!destinations.contains(Harness.address("nobody")))
    }
}
