import GossipCore
import Testing

@Suite struct MembershipTests {
    @Test func aNodeRefutesASuspicionAboutItself() throws {
        var h = try Harness(members: 3)
        h.receive(.suspect(Suspect(incarnation: 0, name: "a", from: "peer-0")), from: "peer-0")
        #expect(h.node.currentIncarnation == 1)
        #expect(h.node.counters.refutations == 1)
        let refutation = h.sent.flatMap(\.messages).contains {
            if case .alive(let a) = $0 { a.name == "a" && a.incarnation == 1 } else { false }
        }
        #expect(refutation, "the refutation goes out at once, not at the next gossip round")
        #expect(h.node.localHealth == 1, "Lifeguard: being suspected counts against our own health")
    }

    @Test func aRefutedSuspicionIsReportedAsRecovered() throws {
        var h = try Harness(members: 1)
        let b = Harness.peer(0)
        h.receive(.suspect(Suspect(incarnation: 0, name: b, from: "c")), from: "c")
        h.receive(.alive(Alive(incarnation: 1, name: b, address: Harness.address(b), tags: Tags())), from: b)
        #expect(h.node.member(named: b)?.status == .alive)
        #expect(h.events.map(\.kind) == [.suspected, .recovered])
    }

    @Test func aRestartedMemberAtANewAddressOvertakesItsDeath() throws {
        var h = try Harness(members: 1)
        let b = Harness.peer(0)
        h.receive(.dead(Dead(incarnation: 3, name: b, from: "c", left: false)), from: "c")
        #expect(h.node.member(named: b)?.status == .failed)
        let newAddress = Address(ipv4: 0x7F00_0999, port: 8000)
        h.receive(.alive(Alive(incarnation: 3, name: b, address: newAddress, tags: Tags())), from: b)
        #expect(h.node.member(named: b)?.status == .failed, "the same incarnation cannot revive it")
        h.receive(.alive(Alive(incarnation: 4, name: b, address: newAddress, tags: Tags())), from: b)
        #expect(h.node.member(named: b)?.status == .alive)
        #expect(h.node.member(named: b)?.address == newAddress)
        #expect(h.events.last?.kind == .joined)
    }

    @Test func aLiveNameCannotMoveToAnotherAddress() throws {
        var h = try Harness(members: 1)
        let b = Harness.peer(0)
        let other = Address(ipv4: 0x7F00_0999, port: 8000)
        h.receive(.alive(Alive(incarnation: 9, name: b, address: other, tags: Tags())), from: "mallory")
        #expect(h.node.member(named: b)?.address == Harness.address(b))
        #expect(h.node.counters.refusals[.nameConflict] == 1)
    }

    @Test func aDepartureIsNeverRelabelledAsAFailure() throws {
        var h = try Harness(members: 2)
        let b = Harness.peer(0)
        h.receive(.dead(Dead(incarnation: 1, name: b, from: b, left: true)), from: b)
        #expect(h.node.member(named: b)?.status == .left)
        h.outputs.removeAll()
        h.receive(.dead(Dead(incarnation: 1, name: b, from: "peer-1", left: false)), from: "peer-1")
        h.receive(.suspect(Suspect(incarnation: 1, name: b, from: "peer-1")), from: "peer-1")
        #expect(h.node.member(named: b)?.status == .left)
        #expect(h.events.isEmpty)
        let retold = h.sent.filter { packet in
            packet.to == Harness.address("peer-1")
                && packet.messages.contains { if case .dead(let d) = $0 { d.name == b && d.left } else { false } }
        }
        #expect(retold.count == 2, "each stale accuser is told of the departure directly")
    }

    @Test func aFailedMemberThatLeftIsReportedAsLeft() throws {
        var h = try Harness(members: 1)
        let b = Harness.peer(0)
        h.receive(.dead(Dead(incarnation: 0, name: b, from: "c", left: false)), from: "c")
        h.receive(.dead(Dead(incarnation: 1, name: b, from: b, left: true)), from: "c")
        #expect(h.node.member(named: b)?.status == .left)
        #expect(h.events.map(\.kind) == [.failed, .left])
    }

    @Test func aProbeWithoutAnyAckEndsInSuspicion() throws {
        var h = try Harness(members: 5)
        h.fire(.failureDetector(.probe))
        let ping = try #require(h.sent.first)
        let p = try #require(ping.messages[0].ping, "the first message of a probe is a ping")
        h.outputs.removeAll()
        h.fire(.failureDetector(.probeTimeout))
        let indirect = h.sent.filter { if case .indirectPing = $0.messages[0] { true } else { false } }
        #expect(indirect.count == 3, "k = 3 helpers")
        #expect(!indirect.contains { $0.to == ping.to }, "the target does not help probe itself")
        h.fire(.failureDetector(.probeDeadline))
        #expect(h.node.member(named: p.target)?.status == .suspect)
        #expect(h.events.contains { $0.kind == .suspected && $0.member.name == p.target })
        #expect(h.node.localHealth == 3, "Lifeguard: three helpers sent no nack")
    }

    @Test func nacksFromHelpersSpareOurOwnHealth() throws {
        var h = try Harness(members: 5)
        h.fire(.failureDetector(.probe))
        let first = try #require(h.sent.first)
        let p = try #require(first.messages[0].ping, "the probe starts with a ping")
        h.fire(.failureDetector(.probeTimeout))
        for i in 0..<3 { h.receive(.nack(Nack(sequence: p.sequence)), from: "helper-\(i)") }
        h.fire(.failureDetector(.probeDeadline))
        #expect(h.node.localHealth == 0)
        #expect(h.node.member(named: p.target)?.status == .suspect)
    }

    @Test func aTimelyAckKeepsTheTargetAliveAndImprovesHealth() throws {
        var h = try Harness(members: 5)
        h.receive(.suspect(Suspect(incarnation: 0, name: "a", from: "peer-0")), from: "peer-0")
        #expect(h.node.localHealth == 1)
        h.fire(.failureDetector(.probe))
        let p = try #require(h.sent.last { $0.messages[0].ping != nil }?.messages[0].ping, "a probe was sent")
        h.receive(.ack(Ack(sequence: p.sequence)), from: p.target)
        h.fire(.failureDetector(.probeTimeout))
        h.fire(.failureDetector(.probeDeadline))
        #expect(h.node.member(named: p.target)?.status == .alive)
        #expect(h.node.localHealth == 0)
    }

    @Test func probingASuspectCarriesTheSuspicion() throws {
        var h = try Harness(members: 1)
        let b = Harness.peer(0)
        h.receive(.suspect(Suspect(incarnation: 0, name: b, from: "c")), from: "c")
        h.outputs.removeAll()
        h.fire(.failureDetector(.probe))
        let probe = try #require(h.sent.first { if case .ping = $0.messages[0] { true } else { false } })
        #expect(probe.messages.contains(.suspect(Suspect(incarnation: 0, name: b, from: "a"))))
    }

    @Test func independentConfirmationsShortenTheSuspicion() throws {
        var h = try Harness(members: 99)
        let b = Harness.peer(0)
        h.receive(.suspect(Suspect(incarnation: 0, name: b, from: "peer-1")), from: "peer-1")
        let first = try #require(h.deadline(of: .failureDetector(.suspicion)))
        #expect(abs(first - h.now - .seconds(48)) < .milliseconds(1), "N = 100: min 4 * log10(100) = 8 s, max 6 * 8 = 48 s")
        h.receive(.suspect(Suspect(incarnation: 0, name: b, from: "peer-1")), from: "peer-1")
        #expect(h.deadline(of: .failureDetector(.suspicion)) == first, "the same accuser twice is one confirmation")
        h.receive(.suspect(Suspect(incarnation: 0, name: b, from: "peer-2")), from: "peer-2")
        let second = try #require(h.deadline(of: .failureDetector(.suspicion)))
        h.receive(.suspect(Suspect(incarnation: 0, name: b, from: "peer-3")), from: "peer-3")
        let third = try #require(h.deadline(of: .failureDetector(.suspicion)))
        #expect(second < first)
        #expect(abs(third - h.now - .seconds(8)) < .milliseconds(1))
        h.fire(.failureDetector(.suspicion))
        h.fire(.failureDetector(.suspicion))
        h.fire(.failureDetector(.suspicion))
        #expect(h.node.member(named: b)?.status == .failed)
        #expect(h.events.filter { $0.kind == .failed }.count == 1)
    }

    @Test func joinExchangesStateWithEverySeedAndReportsSuccess() throws {
        var h = try Harness()
        let seeds = [Harness.address("s1"), Harness.address("s2")]
        h.feed(.join(seeds: seeds, id: JoinID(raw: 1)))
        let streams = h.streams
        #expect(streams.map(\.to) == seeds)
        let reply = PushPull(
            join: false, isReply: true, sender: "s1", senderAddress: seeds[0],
            members: [MemberState(name: "s1", address: seeds[0], incarnation: 0, status: .alive, tags: Tags())])
        h.feed(.stream(from: seeds[0], .pushPull(reply), conversation: streams[0].conversation))
        h.feed(.streamFailed(conversation: streams[1].conversation))
        #expect(h.joinOutcomes == [JoinOutcome(id: JoinID(raw: 1), contacted: 1)])
        #expect(h.node.member(named: "s1")?.status == .alive)
    }

    @Test func aJoinThatReachesNobodyGivesUpAfterItsAttempts() throws {
        var settings = Settings()
        settings.joinMaxAttempts = 3
        var h = try Harness(settings: settings)
        let seed = Harness.address("s1")
        h.feed(.join(seeds: [seed], id: JoinID(raw: 1)))
        for _ in 0..<3 {
            h.feed(.streamFailed(conversation: try #require(h.streams.last).conversation))
            h.fire(.join(.retry))
        }
        #expect(h.streams.count == 3)
        #expect(Set(h.streams.map(\.conversation)).count == 3, "each attempt is a conversation of its own")
        #expect(h.joinOutcomes == [JoinOutcome(id: JoinID(raw: 1), contacted: 0)])
    }

    @Test func leavingTellsTheClusterAndCompletes() throws {
        var h = try Harness(members: 4)
        h.feed(.leave)
        #expect(h.node.isLeaving)
        let departure = h.sent.flatMap(\.messages).contains(.dead(Dead(incarnation: 1, name: "a", from: "a", left: true)))
        #expect(departure)
        for _ in 0..<20 where !h.node.hasLeft { h.fire(.dissemination(.gossip)) }
        #expect(h.outputs.contains { if case .leaveCompleted = $0 { true } else { false } })
        h.outputs.removeAll()
        h.fire(.failureDetector(.probe))
        #expect(h.sent.isEmpty, "a departed node probes nobody")
    }

    @Test func reapingForgetsLongDeadMembers() throws {
        var settings = Settings()
        settings.reapFailedAfter = .seconds(10)
        var h = try Harness(members: 2, settings: settings)
        h.receive(.dead(Dead(incarnation: 0, name: Harness.peer(0), from: "c", left: false)), from: "c")
        for _ in 0..<30 { h.fire(.failureDetector(.probe)) }
        #expect(h.node.member(named: Harness.peer(0)) == nil)
        #expect(h.events.contains { $0.kind == .reaped })
        #expect(h.node.member(named: Harness.peer(1)) != nil)
    }
}

@Suite struct IsolationTests {
    /// A node whose link went down for a minute has declared everyone else failed, and they
    /// it. It must find them again within a period or two of the link's return, not at the
    /// next 30-second reconnect round.
    @Test func aNodeThatSeesMostMembersGoneLooksForThemEveryPeriod() throws {
        var h = try Harness(members: 3)
        for i in 0..<3 {
            h.receive(.dead(Dead(incarnation: 0, name: Harness.peer(i), from: "x", left: false)), from: "x")
        }
        h.outputs.removeAll()
        for _ in 0..<3 { h.fire(.failureDetector(.probe)) }
        let tried = h.streams.map(\.to)
        #expect(tried.count == 3, "one exchange with a failed member per probe period")
        #expect(tried.allSatisfy { to in (0..<3).contains { Harness.address(Harness.peer($0)) == to } })
    }

    @Test func aNodeInTheMajorityKeepsToTheReconnectInterval() throws {
        var h = try Harness(members: 4)
        h.receive(.dead(Dead(incarnation: 0, name: Harness.peer(0), from: "x", left: false)), from: "x")
        h.outputs.removeAll()
        for _ in 0..<5 { h.fire(.failureDetector(.probe)) }
        #expect(h.streams.isEmpty)
    }

    /// Every transition goes through `memberChanged`, in order, before its public event; the
    /// failure detector observes it there (a member no longer suspect is no longer suspected).
    @Test func everyTransitionPassesTheMembershipHookInOrder() throws {
        var s = Settings()
        s.reapFailedAfter = .seconds(1)
        s.reapLeftAfter = .seconds(1)
        var h = try Harness(settings: s)
        h.node.memberChangeLog = []
        let b = "b"
        let tagged: Tags = ["role": "x"]
        h.learn(b)
        h.receive(.alive(Alive(incarnation: 1, name: b, address: Harness.address(b), tags: tagged)), from: b)
        h.receive(.suspect(Suspect(incarnation: 1, name: b, from: "z")), from: "z")
        #expect(h.node.suspicionCount == 1)
        h.receive(.alive(Alive(incarnation: 2, name: b, address: Harness.address(b), tags: tagged)), from: b)
        #expect(h.node.suspicionCount == 0, "the hook ended the suspicion on recovery")
        h.receive(.suspect(Suspect(incarnation: 2, name: b, from: "z")), from: "z")
        h.fire(.failureDetector(.suspicion))  // the first suspicion's timer: stale
        h.fire(.failureDetector(.suspicion))
        #expect(h.node.member(named: b)?.status == .failed)
        #expect(h.node.suspicionCount == 0)
        h.learn("c")
        h.receive(.dead(Dead(incarnation: 0, name: "c", from: "c", left: true)), from: "c")
        h.now = h.now + .seconds(10)
        for _ in 0..<4 { h.fire(.failureDetector(.probe)) }
        let events = h.events
        #expect(h.node.memberChangeLog == events, "one hook call per public event, in the same order")
        #expect(events.map(\.kind) == [.joined, .updated, .suspected, .recovered, .suspected, .failed, .joined, .left, .reaped, .reaped])
        #expect(Set(events.map(\.kind)) == [.joined, .updated, .suspected, .recovered, .failed, .left, .reaped])
        #expect(h.node.knownMembers.map(\.name) == ["a"])
    }
}
