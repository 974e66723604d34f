import GossipCore
import Testing

/// Gap repair and announcements (`ReplicatedStateRepair.swift`) on nodes driven by hand: a gap
/// in an owner's versions or an announced newer version leads, after the wait, to one repair
/// request listing only those owners; a repair request is answered with those owners alone;
/// what arrives in time cancels the request.
@Suite struct ReplicatedStateRepairTests {
    static func row(_ owner: String, _ key: String, _ version: UInt64) -> StateRow {
        StateRow(table: "t", owner: owner, key: key, version: version, value: [UInt8(truncatingIfNeeded: version)])
    }

    /// The owners a repair request's digest lists, for each request this node sent.
    static func repairRequests(_ h: Harness) -> [(to: Address, owners: [String])] {
        h.streams.compactMap { s in
            guard case .pushPull(let pp) = s.message, pp.members.isEmpty else { return nil }
            let owners = pp.sections.flatMap { sec -> [String] in if case .stateDigest(let d) = sec { d.map(\.owner) } else { [] } }
            return (s.to, owners)
        }
    }

    /// Version 3 after version 1: version 2 may be missing; after the wait, one request to the
    /// member that sent version 3, listing that owner alone.
    @Test func aGapInVersionsAsksTheSenderAfterTheWait() throws {
        var h = try Harness(members: 3)
        let p = Harness.peer(0)
        h.receive(.stateRow(Self.row(p, "x", 1)), from: p)
        h.receive(.stateRow(Self.row(p, "z", 3)), from: Harness.peer(1))
        #expect(Self.repairRequests(h).isEmpty)
        #expect(h.node.counters.stateGapsSeen == 1)
        h.fire(.state(.repair))
        let requests = Self.repairRequests(h)
        #expect(requests.count == 1)
        #expect(requests.first?.to == Harness.address(Harness.peer(1)))
        #expect(requests.first?.owners == [p])
        #expect(h.node.counters.stateRepairs == 1)
    }

    /// The missing version arriving within the wait closes the gap: no request.
    @Test func aLateCopyCancelsTheRepair() throws {
        var h = try Harness(members: 2)
        let p = Harness.peer(0)
        h.receive(.stateRow(Self.row(p, "x", 1)), from: p)
        h.receive(.stateRow(Self.row(p, "z", 3)), from: p)
        h.receive(.stateRow(Self.row(p, "y", 2)), from: p)
        h.fire(.state(.repair))
        #expect(Self.repairRequests(h).isEmpty)
        #expect(h.node.counters.stateRepairs == 0)
    }

    /// An announced version above the newest held is a gap (the tail a later write would not
    /// reveal); one at or below it is nothing.
    @Test func anAnnouncedNewerVersionAsksTheAnnouncer() throws {
        var h = try Harness(members: 3)
        let p = Harness.peer(0)
        h.receive(.stateRow(Self.row(p, "x", 1)), .stateRow(Self.row(p, "y", 2)), from: p)
        h.receive(.stateNewest(StateNewest(owner: p, version: 2)), from: Harness.peer(2))
        #expect(h.node.counters.stateGapsSeen == 0)
        h.receive(.stateNewest(StateNewest(owner: p, version: 4)), from: Harness.peer(2))
        h.fire(.state(.repair))
        let requests = Self.repairRequests(h)
        #expect(requests.map(\.to) == [Harness.address(Harness.peer(2))])
        #expect(requests.first?.owners == [p])
    }

    /// Announcements of this node's own rows, of unknown owners, and out of range are not gaps;
    /// version 0 and the ceiling are refused as a row's would be.
    @Test func announcementsOfSelfStrangersAndOutOfRangeAreIgnored() throws {
        var h = try Harness(members: 1)
        h.receive(.stateNewest(StateNewest(owner: "a", version: 9)), from: Harness.peer(0))
        h.receive(.stateNewest(StateNewest(owner: "stranger", version: 9)), from: Harness.peer(0))
        h.receive(.stateNewest(StateNewest(owner: Harness.peer(0), version: 0)), from: Harness.peer(0))
        h.receive(.stateNewest(StateNewest(owner: Harness.peer(0), version: Limits.maxIncarnation)), from: Harness.peer(0))
        #expect(h.node.counters.stateGapsSeen == 0)
        #expect(h.refusals == [.incarnationOutOfRange, .incarnationOutOfRange])
        #expect(h.deadline(of: .state(.repair)) == nil)
    }

    /// A repair request is answered with the rows of the owners it lists alone, and the
    /// requester's follow-up is held to them too: the rest of the two replicas is not compared.
    @Test func aRepairExchangeCarriesOnlyTheListedOwners() throws {
        var a = try Harness(name: "a")
        var b = try Harness(name: "b")
        for n in ["b", "c", "d"] { a.learn(n) }
        for n in ["a", "c", "d"] { b.learn(n) }
        // a holds c's versions 1 and 2 and all of d's; b holds c's 1 and 3 (2 missing) and none of d's.
        for v in 1...2 as ClosedRange<UInt64> { a.receive(.stateRow(Self.row("c", "k\(v)", v)), from: "c") }
        a.receive(.stateRow(Self.row("d", "k", 1)), from: "d")
        b.receive(.stateRow(Self.row("c", "k1", 1)), from: "c")
        b.receive(.stateRow(Self.row("c", "k3", 3)), from: "a")
        b.outputs.removeAll()
        b.fire(.state(.repair))
        let request = try #require(b.streams.last)
        #expect(request.to == Harness.address("a"))
        a.outputs.removeAll()
        a.feed(.stream(from: Harness.address("b"), request.message, conversation: .inbound(1)))
        let reply = try #require(a.replies.last)
        guard case .pushPull(let r) = reply.message else { throw CancellationError() }
        #expect(r.members.isEmpty)
        let rows = r.sections.flatMap { s -> [StateRow] in if case .stateRows(let x) = s { x } else { [] } }
        // Both hold c's newest 2 vs 3: a sends nothing newer than 3; d is not listed.
        #expect(rows.allSatisfy { $0.owner == "c" })
        b.outputs.removeAll()
        b.feed(.stream(from: Harness.address("a"), reply.message, conversation: request.conversation))
        // b holds c's newer version 3: its follow-up gives a just that, and nothing of d.
        let follow = try #require(b.streams.last)
        guard case .pushPull(let f) = follow.message else { throw CancellationError() }
        let sent = f.sections.flatMap { s -> [StateRow] in if case .stateRows(let x) = s { x } else { [] } }
        #expect(sent.map(\.owner) == ["c"])
        #expect(sent.map(\.version) == [3])
        a.feed(.stream(from: Harness.address("b"), follow.message, conversation: .inbound(2)))
        #expect(a.node.stateRows(of: "c").map(\.version) == [1, 2, 3])
        #expect(a.node.stateRows(of: "d").count == 1)
        #expect(b.node.stateRows(of: "d").isEmpty)
        // b still lacks 2 and the exchange showed the two sides differ: the gap stays, and the
        // next attempt (after four waits) asks the owner, which holds every version of its own.
        b.outputs.removeAll()
        for _ in 0..<5 where Self.repairRequests(b).isEmpty { b.fire(.state(.repair)) }
        let retry = Self.repairRequests(b)
        #expect(retry.map(\.to) == [Harness.address("c")])
        #expect(retry.first?.owners == ["c"])
    }

    /// An exchange after which both sides hold the same rows of an owner closes its gap: no
    /// further request.
    @Test func anExchangeThatShowsAgreementClosesTheGap() throws {
        var a = try Harness(name: "a")
        var b = try Harness(name: "b")
        for n in ["b", "c"] { a.learn(n) }
        for n in ["a", "c"] { b.learn(n) }
        for v in 1...3 as ClosedRange<UInt64> { a.receive(.stateRow(Self.row("c", "k\(v)", v)), from: "c") }
        b.receive(.stateRow(Self.row("c", "k1", 1)), from: "c")
        b.receive(.stateRow(Self.row("c", "k3", 3)), from: "a")
        b.outputs.removeAll()
        b.fire(.state(.repair))
        let request = try #require(b.streams.last)
        a.feed(.stream(from: Harness.address("b"), request.message, conversation: .inbound(1)))
        let reply = try #require(a.replies.last)
        b.outputs.removeAll()
        b.feed(.stream(from: Harness.address("a"), reply.message, conversation: request.conversation))
        #expect(b.node.stateRows(of: "c").map(\.version) == [1, 2, 3])
        #expect(b.streams.isEmpty, "nothing to follow up")
        for _ in 0..<5 where b.timers.contains(where: { $0.id.kind == .state(.repair) }) {
            b.fire(.state(.repair))
        }
        #expect(Self.repairRequests(b).isEmpty)
        #expect(b.node.counters.stateRepairs == 1)
    }

    /// An exchange with a member that lacks the same version (b's tree parent a, whose loss cut
    /// b off) shows both sides equal without bringing anything: the gap stays open, and the next
    /// attempt asks the owner, instead of leaving the row to push/pull.
    @Test func agreementWithAMemberAsBehindAsksTheOwner() throws {
        var a = try Harness(name: "a")
        var b = try Harness(name: "b")
        for n in ["b", "c"] { a.learn(n) }
        for n in ["a", "c"] { b.learn(n) }
        a.receive(.stateRow(Self.row("c", "k1", 1)), from: "c")
        a.receive(.stateRow(Self.row("c", "k3", 3)), from: "c")
        b.receive(.stateRow(Self.row("c", "k1", 1)), from: "c")
        b.receive(.stateRow(Self.row("c", "k3", 3)), from: "a")
        b.outputs.removeAll()
        b.fire(.state(.repair))
        let request = try #require(b.streams.last)
        #expect(request.to == Harness.address("a"))
        a.feed(.stream(from: Harness.address("b"), request.message, conversation: .inbound(1)))
        let reply = try #require(a.replies.last)
        b.outputs.removeAll()
        b.feed(.stream(from: Harness.address("a"), reply.message, conversation: request.conversation))
        #expect(b.node.stateRows(of: "c").map(\.version) == [1, 3])
        #expect(b.node.counters.stateGapsEscalated == 1)
        b.outputs.removeAll()
        for _ in 0..<5 where Self.repairRequests(b).isEmpty { b.fire(.state(.repair)) }
        #expect(Self.repairRequests(b).map(\.to) == [Harness.address("c")])
    }

    /// A row an exchange brings that is new here goes on to this node's children in its owner's
    /// trees (they likely missed it too); rows of a join reply stay here.
    @Test func aRowAnExchangeBringsTravelsTheTrees() throws {
        var h = try Harness(members: 40)
        // The last name on the ring: this node ("a", the first) is right after it, so it has
        // children in the first tree.
        let p = Harness.peer(9)
        let rows = (1...3 as ClosedRange<UInt64>).map { Self.row(p, "k\($0)", $0) }
        let pp = PushPull(join: false, isReply: false, sender: Harness.peer(5), senderAddress: Harness.address(Harness.peer(5)),
                          sections: [.stateRows(rows)])
        h.outputs.removeAll()
        h.feed(.stream(from: Harness.address(Harness.peer(5)), .pushPull(pp), conversation: .inbound(9)))
        #expect(h.node.stateRows(of: p).count == 3)
        #expect(h.node.counters.stateRowsForwarded == 3)
        let forwarded = h.sent.filter { d in d.messages.contains { if case .stateRow = $0 { true } else { false } } }
        #expect(forwarded.count >= 12)
        #expect(forwarded.allSatisfy { $0.to != Harness.address(Harness.peer(5)) })
        #expect(h.node.counters.eagerPushes == forwarded.count)
        // The same rows again are duplicates: nothing more is sent.
        h.outputs.removeAll()
        h.feed(.stream(from: Harness.address(Harness.peer(5)), .pushPull(pp), conversation: .inbound(10)))
        #expect(h.node.counters.stateRowsForwarded == 3)
        #expect(h.sent.allSatisfy { d in !d.messages.contains { if case .stateRow = $0 { true } else { false } } })
    }

    /// Applying a row from a datagram queues its owner's announcement; the flush sends the
    /// newest version held in type-14 messages, and an owner's burst is one announcement.
    @Test func appliedRowsAreAnnouncedOncePerFlush() throws {
        var h = try Harness(members: 40)
        let p = Harness.peer(3)
        for v in 1...5 as ClosedRange<UInt64> { h.receive(.stateRow(Self.row(p, "k\(v)", v)), from: p) }
        h.outputs.removeAll()
        h.fire(.state(.announce))
        let announced = h.sent.flatMap(\.messages).compactMap { m -> StateNewest? in
            if case .stateNewest(let n) = m { n } else { nil }
        }
        // Whether this node has children in p's lazy tree depends on the ring; each child gets one.
        #expect(announced.allSatisfy { $0 == StateNewest(owner: p, version: 5) })
        #expect(Set(h.sent.map(\.to)).count == announced.count)
        #expect(h.node.counters.stateAnnouncementsOut == announced.count)
    }
}
