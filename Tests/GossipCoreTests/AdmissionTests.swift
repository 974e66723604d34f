import GossipCore
import Testing

/// What arrives from outside is checked where it enters: each case here is a remote crash, a
/// resurrection, a reflector or an exhaustion found by trying the product as an attacker and as
/// users of its peers reported them. The node stays up, refuses the bad value, and counts it.
@Suite struct AdmissionTests {
    static let top = Limits.maxIncarnation

    // MARK: incarnations

    /// Reported: one plaintext alive/suspect/dead about the receiver at 2^64-1 trapped on
    /// `max(incarnation, accused) + 1`, and the poisoned entry killed it again after each restart.
    @Test(arguments: [UInt64.max, top + 1, top])
    func anAccusationAboutThisNodeItCannotOutliveIsRefused(incarnation: UInt64) throws {
        var h = try Harness(members: 2)
        h.receive(
            .suspect(Suspect(incarnation: incarnation, name: "a", from: "peer-0")),
            .dead(Dead(incarnation: incarnation, name: "a", from: "peer-0", left: false)),
            .alive(Alive(incarnation: incarnation, name: "a", address: Harness.address("a"), tags: ["x": "y"])),
            from: "peer-0")
        #expect(h.node.currentIncarnation == 0, "nothing adopted")
        #expect(h.node.counters.refutations == 0)
        #expect(h.node.counters.refusals[.incarnationOutOfRange] == 3, "each message counted")
        #expect(h.refusals == [.incarnationOutOfRange], "each reason reported once per datagram")
    }

    @Test func anAccusationJustBelowTheCeilingIsRefutedAtTheCeiling() throws {
        var h = try Harness(members: 2)
        h.receive(.suspect(Suspect(incarnation: Self.top - 1, name: "a", from: "peer-0")), from: "peer-0")
        #expect(h.node.currentIncarnation == Self.top)
        h.feed(.setTags(["role": "web"]))
        #expect(h.node.currentIncarnation == Self.top, "held at the ceiling, never past it")
    }

    @Test func anotherMembersIncarnationIsTakenUpToTheCeilingAndAccusationsOnlyBelowIt() throws {
        var h = try Harness(members: 1)
        let b = Harness.peer(0)
        h.receive(.alive(Alive(incarnation: Self.top + 1, name: b, address: Harness.address(b), tags: Tags())), from: b)
        #expect(h.node.member(named: b)?.incarnation == 0)
        h.receive(.dead(Dead(incarnation: Self.top, name: b, from: "c", left: false)), from: "c")
        #expect(h.node.member(named: b)?.status == .alive, "b could never refute a death at the ceiling")
        h.receive(.alive(Alive(incarnation: Self.top, name: b, address: Harness.address(b), tags: Tags())), from: b)
        #expect(h.node.member(named: b)?.incarnation == Self.top)
        #expect(h.node.counters.refusals[.incarnationOutOfRange] == 2)
    }

    /// Reported: fed alive(x, 1), dead(x, 1), dead(x, 10), alive(x, 2), x was `joined` again.
    @Test func aLaterDeathNoticeRaisesWhatIsRemembered() throws {
        var h = try Harness()
        let x = "x"
        let at = Harness.address(x)
        h.receive(.alive(Alive(incarnation: 1, name: x, address: at, tags: Tags())), from: x)
        h.receive(.dead(Dead(incarnation: 1, name: x, from: "c", left: false)), from: "c")
        h.receive(.dead(Dead(incarnation: 10, name: x, from: "c", left: false)), from: "c")
        h.receive(.alive(Alive(incarnation: 2, name: x, address: at, tags: Tags())), from: "c")
        #expect(h.node.member(named: x)?.status == .failed)
        #expect(h.node.member(named: x)?.incarnation == 10)
        #expect(h.events.map(\.kind) == [.joined, .failed])
        h.receive(.alive(Alive(incarnation: 11, name: x, address: at, tags: Tags())), from: x)
        #expect(h.node.member(named: x)?.status == .alive, "x itself outlives the notice")
    }

    @Test func aDepartureAtALaterIncarnationIsNewsNotAStaleAccusation() throws {
        var h = try Harness(members: 1)
        let b = Harness.peer(0)
        h.receive(.dead(Dead(incarnation: 1, name: b, from: b, left: true)), from: b)
        h.outputs.removeAll()
        h.receive(.dead(Dead(incarnation: 1, name: b, from: "c", left: false)), from: "c")
        #expect(h.sent.count == 1, "a stale accusation is told of the departure")
        h.outputs.removeAll()
        h.receive(.dead(Dead(incarnation: 5, name: b, from: "c", left: false)), from: "c")
        #expect(h.sent.isEmpty, "a newer one is not contradicted")
        #expect(h.node.member(named: b)?.status == .failed)
        #expect(h.node.member(named: b)?.incarnation == 5)
    }

    // MARK: names

    /// Reported: a member named with a newline and a fake `failed n2 ...` line made every node
    /// print an event that looked real.
    @Test(arguments: ["n1\nfailed n2 10.0.0.2:7946", "\u{1b}[2Jclear", "x\u{202E}", ""])
    func aNameThatCouldForgeOutputIsRefused(name: String) throws {
        var h = try Harness(members: 1)
        let at = Harness.address("evil")
        h.receive(.alive(Alive(incarnation: 1, name: name, address: at, tags: Tags())), from: "evil")
        h.receive(.alive(Alive(incarnation: 1, name: "ok", address: at, tags: [name: "v"])), from: "evil")
        h.receive(.suspect(Suspect(incarnation: 0, name: Harness.peer(0), from: name)), from: "evil")
        #expect(h.node.member(named: name) == nil)
        #expect(h.node.member(named: "ok") == nil, "a tag key follows the name rule")
        #expect(h.node.member(named: Harness.peer(0))?.status == .alive)
        #expect(h.node.counters.refusals[.invalidName] == 3)
        #expect(h.events.isEmpty)
    }

    // MARK: addresses

    /// Reported: a ping whose source was the broadcast address closed the receiver's socket,
    /// and an alive for a fake member at port 0 or at an IPv6 address deafened every member.
    @Test(arguments: [
        Address(ipv4: 0x7F00_0002, port: 0),
        Address(ipv6High: 0, low: 1, port: 7946),
        Address(ipv4: 0xFFFF_FFFF, port: 7946),
        Address(ipv4: 0xE000_0001, port: 7946),
        Address(ipv4: 0, port: 7946),
        Address(ipv6High: 0xFE80_0000_0000_0000, low: 1, port: 7946),
    ])
    func aMemberAtAnAddressThisNodeCannotUseIsRefused(address: Address) throws {
        var h = try Harness(members: 1)
        h.receive(.alive(Alive(incarnation: 1, name: "fake", address: address, tags: Tags())), from: "x")
        #expect(h.node.member(named: "fake") == nil)
        #expect(h.node.counters.refusals[.unusableAddress] == 1)
        #expect(h.sent.allSatisfy { h.node.address.canReach($0.to) })
    }

    @Test func loopbackIsUsableOnlyFromLoopback() {
        let lo = Address(ipv4: 0x7F00_0001, port: 1)
        let lan = Address(ipv4: 0x0A00_0001, port: 1)
        #expect(lo.canReach(Address(ipv4: 0x7F00_0002, port: 2)))
        #expect(lo.canReach(lan))
        #expect(!lan.canReach(lo), "from a LAN address, loopback is the node itself")
        #expect(!lan.canReach(Address(ipv6High: 0x2001_0db8_0000_0000, low: 1, port: 1)))
    }

    // MARK: replies

    /// Reported: 80 pings in one datagram sent 80 acks, with gossip riding along, to a third
    /// address named inside them: up to 13x the bytes.
    @Test func aDatagramBuysOneBareReplyToItsSource() throws {
        var h = try Harness(members: 5)
        // Something to gossip, so that piggybacking would show.
        h.receive(.suspect(Suspect(incarnation: 0, name: Harness.peer(1), from: Harness.peer(2))), from: Harness.peer(2))
        h.outputs.removeAll()
        let victim = Address(ipv4: 0x7F00_0F0F, port: 9999)
        let attacker = Harness.address("attacker")
        let pings = (0..<80).map { n in
            Message.ping(Ping(sequence: UInt32(n), target: "a", source: "attacker", sourceAddress: victim))
        }
        h.feed(.datagram(from: attacker, messages: pings))
        #expect(h.sent.count == 1)
        #expect(h.sent.first?.to == attacker, "replies go to the datagram's source")
        #expect(h.sent.first?.messages == [.ack(Ack(sequence: 0))], "no gossip for a stranger")
        #expect(h.node.counters.refusals[.excessRequests] == 79)
        let requestBytes = pings.reduce(0) { $0 + $1.encodedSize }
        let replyBytes = h.sent.flatMap(\.messages).reduce(0) { $0 + $1.encodedSize }
        #expect(replyBytes < requestBytes)
    }

    @Test func aLiveMemberStillGetsGossipWithItsAck() throws {
        var h = try Harness(members: 5)
        h.receive(.suspect(Suspect(incarnation: 0, name: Harness.peer(1), from: Harness.peer(2))), from: Harness.peer(2))
        h.outputs.removeAll()
        let p0 = Harness.peer(0)
        h.receive(.ping(Ping(sequence: 7, target: "a", source: p0, sourceAddress: Harness.address(p0))), from: p0)
        #expect(h.sent.count == 1)
        #expect((h.sent.first?.messages.count ?? 0) > 1, "the ack carries the queued suspicion")
    }

    @Test func anIndirectProbeOnlyReachesKnownLiveMembersAtTheirKnownAddress() throws {
        var h = try Harness(members: 3)
        let p0 = Harness.peer(0)
        let p1 = Harness.peer(1)
        let elsewhere = Address(ipv4: 0x7F00_0F0F, port: 9999)
        h.receive(
            .indirectPing(
                IndirectPing(
                    sequence: 1, target: "stranger", targetAddress: elsewhere, requester: p0,
                    requesterAddress: Harness.address(p0), wantsNack: true)), from: p0)
        // Nothing goes to the stranger; the requester gets its nack at once (its request got
        // through, which is what Lifeguard's nack measures).
        #expect(h.sent.map(\.to) == [Harness.address(p0)])
        #expect(h.sent.first?.messages.first == .nack(Nack(sequence: 1)))
        #expect(h.node.counters.refusals[.unknownRelayTarget] == 1)
        h.outputs.removeAll()
        h.receive(
            .indirectPing(
                IndirectPing(
                    sequence: 2, target: p1, targetAddress: elsewhere, requester: p0, requesterAddress: elsewhere,
                    wantsNack: true)), from: p0)
        #expect(h.sent.map(\.to) == [Harness.address(p1)], "the known address, not the one in the request")
        h.fire(.failureDetector(.indirectTimeout))
        #expect(h.sent.last?.to == Harness.address(p0), "the nack goes to the requester's source")
    }

    // MARK: the member table

    /// Reported: one 1 MiB push/pull with 60,000 invented members took RSS from 18 to 74 MB and
    /// blinded the failure detector.
    @Test func oneExchangeAddsAtMostItsShareOfNewMembers() throws {
        var s = Settings()
        s.maxMembersLearnedPerExchange = 100
        s.maxMembers = 250
        var h = try Harness(members: 2, settings: s)
        func flood(_ base: Int) -> PushPull {
            PushPull(
                join: false, isReply: false, sender: "mallory", senderAddress: Harness.address("mallory"),
                members: (0..<1_000).map { i in
                    MemberState(
                        name: "fake-\(base + i)", address: Address(ipv4: 0x7F01_0000 + UInt32(base + i), port: 7946),
                        incarnation: 0, status: .alive, tags: Tags())
                })
        }
        h.feed(.stream(from: Harness.address("mallory"), .pushPull(flood(0)), conversation: .inbound(1)))
        #expect(h.node.knownMembers.count == 3 + 100)
        #expect(h.node.counters.refusals[.exchangeLimit] == 900)
        #expect(h.replies.count == 1, "the exchange is still answered, on its own connection")
        h.feed(.stream(from: Harness.address("mallory"), .pushPull(flood(1_000)), conversation: .inbound(2)))
        h.feed(.stream(from: Harness.address("mallory"), .pushPull(flood(2_000)), conversation: .inbound(3)))
        #expect(h.node.knownMembers.count == 250)
        #expect(h.node.counters.refusals[.tableFull] > 0)
        #expect(h.node.member(named: Harness.peer(0)) != nil, "real members are never displaced by live newcomers")
    }

    @Test func aFullTableMakesRoomByForgettingTheLongestGone() throws {
        var s = Settings()
        s.maxMembers = 4
        var h = try Harness(members: 3, settings: s)
        h.receive(.dead(Dead(incarnation: 0, name: Harness.peer(2), from: "x", left: false)), from: "x")
        h.now = h.now + .seconds(1)
        h.receive(.dead(Dead(incarnation: 0, name: Harness.peer(1), from: "x", left: false)), from: "x")
        h.learn("newcomer")
        #expect(h.node.member(named: "newcomer") != nil)
        #expect(h.node.member(named: Harness.peer(2)) == nil, "the one gone longest")
        #expect(h.node.member(named: Harness.peer(1)) != nil)
        #expect(h.events.last?.kind == .joined)
        #expect(h.events.dropLast().last.map { ($0.kind, $0.member.name) } ?? (.joined, "") == (.reaped, Harness.peer(2)))
    }

    // MARK: push/pull

    /// Reported: a, b, c; c killed; once a and b reported it failed, d joined through a and
    /// printed `joined c`, probed c, and `failed c` 11 s later.
    @Test(arguments: [MemberStatus.failed, .suspect, .left])
    func aMemberFirstHeardOfAsGoneIsNotAnnouncedAsJoined(status: MemberStatus) throws {
        var h = try Harness()
        let seed = Harness.address("s")
        h.feed(.join(seeds: [seed], id: JoinID(raw: 1)))
        let c = try #require(h.streams.first).conversation
        let reply = PushPull(
            join: false, isReply: true, sender: "s", senderAddress: seed,
            members: [
                MemberState(name: "s", address: seed, incarnation: 0, status: .alive, tags: Tags()),
                MemberState(name: "c", address: Harness.address("c"), incarnation: 3, status: status, tags: Tags()),
            ])
        h.feed(.stream(from: seed, .pushPull(reply), conversation: c))
        #expect(h.joinOutcomes == [JoinOutcome(id: JoinID(raw: 1), contacted: 1)])
        #expect(h.node.member(named: "c") == nil)
        #expect(!h.events.contains { $0.member.name == "c" })
        // Probing never reaches c.
        for _ in 0..<10 { h.fire(.failureDetector(.probe)) }
        #expect(!h.sent.contains { $0.to == Harness.address("c") })
    }

    @Test func anExchangeRequestIsAnsweredOnItsOwnConversationNotAtTheAddressItNames() throws {
        var h = try Harness(members: 2)
        let victim = Address(ipv4: 0x7F00_0F0F, port: 9999)
        let request = PushPull(join: true, isReply: false, sender: "j", senderAddress: victim, members: [])
        h.feed(.stream(from: Harness.address("j"), .pushPull(request), conversation: .inbound(42)))
        #expect(h.replies.map(\.conversation) == [.inbound(42)])
        #expect(h.streams.isEmpty, "no connection is opened to anyone")
    }

    // MARK: name conflicts

    /// Reported: a, b, c, then another `b` at a new port joins a: the newcomer believes it is a
    /// member, the others ignore it, and nobody says anything.
    @Test func aJoinIsRefusedWhenTheSeedKnowsThisNameLiveElsewhere() throws {
        var h = try Harness(name: "b")
        let seed = Harness.address("a")
        let realB = Address(ipv4: 0x7F00_0B0B, port: 7946)
        h.feed(.join(seeds: [seed], id: JoinID(raw: 1)))
        let c = try #require(h.streams.first).conversation
        let reply = PushPull(
            join: false, isReply: true, sender: "a", senderAddress: seed,
            members: [
                MemberState(name: "a", address: seed, incarnation: 0, status: .alive, tags: Tags()),
                MemberState(name: "b", address: realB, incarnation: 4, status: .alive, tags: Tags()),
            ])
        h.feed(.stream(from: seed, .pushPull(reply), conversation: c))
        let conflict = NameConflict(name: "b", known: Harness.address("b"), claimed: realB, isSelf: true)
        #expect(h.joinOutcomes == [JoinOutcome(id: JoinID(raw: 1), contacted: 0, conflict: conflict)])
        #expect(h.node.member(named: "a") == nil, "nothing merged from a cluster that has this name")
        #expect(h.node.counters.refusals[.nameConflict] == 1)
        #expect(h.node.currentIncarnation == 0, "no refutation: that would start an incarnation war")
        #expect(h.outputs.contains { if case .nameConflict(conflict) = $0 { true } else { false } })
    }

    @Test func aSecondClaimOnALiveNameIsReportedOnceAndNeverOutbid() throws {
        var h = try Harness(members: 2)
        let b = Harness.peer(0)
        let other = Address(ipv4: 0x7F00_0B0B, port: 7000)
        for inc in 1...5 as ClosedRange<UInt64> {
            h.receive(.alive(Alive(incarnation: inc, name: b, address: other, tags: Tags())), from: "impostor")
            h.receive(.alive(Alive(incarnation: inc, name: "a", address: other, tags: Tags())), from: "impostor")
        }
        #expect(h.node.member(named: b)?.address == Harness.address(b))
        #expect(h.node.currentIncarnation == 0, "an impostor of this node is reported, not fought")
        #expect(h.node.counters.refusals[.nameConflict] == 10)
        let reports = h.outputs.filter { if case .nameConflict = $0 { true } else { false } }
        #expect(reports.count == 2, "one report per name and claimed address")
    }

    @Test func aNewcomerAtIncarnationZeroIsReportedByTheMembersItReaches() throws {
        var h = try Harness(members: 2)
        let b = Harness.peer(0)
        h.receive(.alive(Alive(incarnation: 3, name: b, address: Harness.address(b), tags: Tags())), from: b)
        let newcomer = Address(ipv4: 0x7F00_0B0B, port: 7000)
        let request = PushPull(
            join: true, isReply: false, sender: b, senderAddress: newcomer,
            members: [MemberState(name: b, address: newcomer, incarnation: 0, status: .alive, tags: Tags())])
        h.feed(.stream(from: newcomer, .pushPull(request), conversation: .inbound(1)))
        #expect(h.outputs.contains { if case .nameConflict(let c) = $0 { c.claimed == newcomer && !c.isSelf } else { false } })
        #expect(h.node.member(named: b)?.address == Harness.address(b))
        #expect(h.replies.count == 1, "the newcomer is answered, and learns from the answer that its name is taken")
    }
}

/// Reported: after one push/pull of invented members, a real member killed with SIGKILL was
/// detected by none of the survivors, because the probe round had grown by the invented ones.
@Suite struct ProbeLaneTests {
    @Test func invitedFakesDoNotSlowTheProbingOfConfirmedMembers() throws {
        var s = Settings()
        s.maxMembersLearnedPerExchange = 1_000
        var h = try Harness(members: 3, settings: s)
        // Confirm the three real members: each answers the probe it gets.
        for _ in 0..<10 {
            let out = h.fire(.failureDetector(.probe))
            for case .datagram(let to, let messages) in out {
                for case .ping(let p) in messages where p.target.hasPrefix("peer-") {
                    h.feed(.datagram(from: to, messages: [.ack(Ack(sequence: p.sequence))]))
                }
            }
        }
        let fakes = PushPull(
            join: false, isReply: false, sender: "mallory", senderAddress: Harness.address("mallory"),
            members: (0..<1_000).map { i in
                MemberState(
                    name: "fake-\(i)", address: Address(ipv4: 0x7F02_0000 + UInt32(i), port: 7946), incarnation: 0,
                    status: .alive, tags: Tags())
            })
        h.feed(.stream(from: Harness.address("mallory"), .pushPull(fakes), conversation: .inbound(1)))
        #expect(h.node.knownMembers.count == 1_004)
        h.outputs.removeAll()
        // Six periods: every real member is probed at least once (a round of three), and the
        // fakes get one probe per period between them.
        for _ in 0..<6 { h.fire(.failureDetector(.probe)) }
        let pinged = h.sent.flatMap(\.messages).compactMap { if case .ping(let p) = $0 { p.target } else { nil } }
        for i in 0..<3 { #expect(pinged.contains(Harness.peer(i)), "peer-\(i) probed") }
        #expect(pinged.filter { $0.hasPrefix("fake-") }.count == 6)
    }
}

extension AdmissionTests {
    /// Found by the core fuzzer's author reading Admission: another name at this node's own
    /// address was admitted, and the node then probed itself for it until declaring it failed.
    @Test func anotherNameAtThisNodesOwnAddressIsRefused() throws {
        var h = try Harness(members: 1)
        h.receive(.alive(Alive(incarnation: 0, name: "squatter", address: h.node.address, tags: Tags())), from: "x")
        #expect(h.node.member(named: "squatter") == nil)
        #expect(h.node.counters.refusals[.unusableAddress] == 1)
    }
}
