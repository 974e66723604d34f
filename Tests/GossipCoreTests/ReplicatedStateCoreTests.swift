import GossipCore
import Testing

/// Replicated state on nodes driven by hand: writes, ordering, duplicates, tombstones, limits,
/// admission, the membership hook, restarts and the push/pull sections.
@Suite struct ReplicatedStateCoreTests {
    static func row(_ owner: String, _ key: String, _ version: UInt64, deleted: Bool = false, value: [UInt8] = [1]) -> StateRow {
        StateRow(table: "t", owner: owner, key: key, version: version, deleted: deleted, value: deleted ? [] : value)
    }

    static func changes(_ outputs: [Output]) -> [RowChange] {
        outputs.compactMap { if case .rowChanged(let c) = $0 { c } else { nil } }
    }

    static func refused(_ outputs: [Output]) -> [RequestError] {
        outputs.compactMap { if case .requestRefused(_, let e) = $0 { e } else { nil } }
    }

    /// Own writes are versioned 1, 2, 3..., reported, and pushed at once; a delete is a
    /// tombstone; deleting what is not held does nothing.
    @Test func writesUpdatesAndDeletesAreVersionedReportedAndSent() throws {
        var h = try Harness(members: 4)
        h.feed(.writeRow(table: "t", key: "k", value: [1]))
        h.feed(.writeRow(table: "t", key: "k", value: [2]))
        h.feed(.deleteRow(table: "t", key: "k"))
        h.feed(.deleteRow(table: "t", key: "k"))
        h.feed(.deleteRow(table: "t", key: "never"))
        #expect(Self.changes(h.outputs).map(\.kind) == [.added, .updated, .removed])
        #expect(h.node.stateVersion == 3)
        #expect(h.node.stateRow(table: "t", owner: "a", key: "k") == Self.row("a", "k", 3, deleted: true))
        #expect(h.node.stateRows(of: "a").isEmpty)
        let rows = h.sent.flatMap(\.messages).compactMap { if case .stateRow(let r) = $0 { r } else { nil } }
        #expect(Set(rows.map(\.version)) == [1, 2, 3])
        #expect(h.node.counters.stateRowsWritten == 3)
    }

    /// Only a newer version is applied; an older or equal one is a duplicate, and a row older
    /// than its tombstone does not come back.
    @Test func onlyNewerVersionsApply() throws {
        var h = try Harness(members: 2)
        let p = Harness.peer(0)
        h.receive(.stateRow(Self.row(p, "k", 5, value: [5])), from: p)
        h.receive(.stateRow(Self.row(p, "k", 3, value: [3])), from: p)
        h.receive(.stateRow(Self.row(p, "k", 5, value: [5])), from: p)
        h.receive(.stateRow(Self.row(p, "k", 7, deleted: true)), from: p)
        h.receive(.stateRow(Self.row(p, "k", 6, value: [6])), from: p)
        #expect(Self.changes(h.outputs).map(\.kind) == [.added, .removed])
        #expect(h.node.counters.stateRowDuplicates == 3)
        #expect(h.node.stateRows(of: p).isEmpty)
        #expect(h.node.stateRow(table: "t", owner: p, key: "k")?.version == 7)
    }

    /// A row of an owner this node does not know is dropped, not stored.
    @Test func rowsOfUnknownOwnersAreDropped() throws {
        var h = try Harness(members: 1)
        h.receive(.stateRow(Self.row("stranger", "k", 1)), from: Harness.peer(0))
        #expect(h.node.stateOwners.isEmpty)
        #expect(h.node.counters.stateRowsOfUnknownOwners == 1)
    }

    /// The limits refuse writes with clear errors, and rows of other owners beyond them.
    @Test func limitsRefuseWritesAndRemoteRows() throws {
        var s = Settings()
        s.stateRowsPerOwner = 2
        s.stateTables = 1
        s.stateKeySizeLimit = 8
        s.stateValueSizeLimit = 16
        var h = try Harness(members: 2, settings: s)
        h.feed(.writeRow(table: "t", key: "a", value: []))
        h.feed(.writeRow(table: "t", key: "b", value: []))
        h.feed(.writeRow(table: "t", key: "c", value: []))
        h.feed(.writeRow(table: "u", key: "a", value: []))
        h.feed(.writeRow(table: "t", key: "123456789", value: []))
        h.feed(.writeRow(table: "t", key: "a", value: [UInt8](repeating: 0, count: 16)))
        h.feed(.writeRow(table: "bad\n", key: "a", value: []))
        h.feed(.writeRow(table: "t", key: "", value: []))
        #expect(
            Self.refused(h.outputs) == [
                .tooManyRows(2), .tooManyRows(2), .invalidKey("123456789", limit: 8), .tooLarge(size: 17, limit: 16),
                .invalidName("bad\n"), .invalidKey("", limit: 8),
            ])
        h.outputs.removeAll()
        let p = Harness.peer(0)
        h.receive(.stateRow(Self.row(p, "a", 1)), .stateRow(Self.row(p, "b", 2)), .stateRow(Self.row(p, "c", 3)), from: p)
        h.receive(.stateRow(StateRow(table: "other", owner: p, key: "a", version: 4, value: [])), from: p)
        #expect(h.node.stateRows(of: p).count == 2)
        #expect(h.node.counters.refusals[.tooLarge] == 2)
    }

    /// Every size limit is also held to what one datagram carries.
    @Test func theValueLimitIsHeldToADatagram() throws {
        var s = Settings()
        s.stateValueSizeLimit = Limits.maxPayloadSize
        let limit = s.effectiveLimit(s.stateValueSizeLimit, overhead: Message.stateRowOverhead)
        #expect(limit < s.payloadBudget)
        let table = String(repeating: "t", count: Limits.maxNameLength)
        let owner = String(repeating: "o", count: Limits.maxNameLength)
        let row = StateRow(table: table, owner: owner, key: "k", version: Limits.maxIncarnation - 1, value: [UInt8](repeating: 0, count: limit - 1))
        #expect(Message.stateRow(row).encodedSize <= s.payloadBudget)
        #expect(throws: RequestError.tooLarge(size: limit + 1, limit: limit)) {
            try s.check(row: "t", key: "k", value: [UInt8](repeating: 0, count: limit))
        }
    }

    /// Admission: bad names and keys, versions 0 and at the ceiling, and a tombstone with a
    /// value are refused before any state changes.
    @Test func admissionRefusesBadRows() throws {
        var h = try Harness(members: 1)
        let p = Harness.peer(0)
        h.receive(.stateRow(StateRow(table: "t\u{202e}", owner: p, key: "k", version: 1, value: [])), from: p)
        h.receive(.stateRow(StateRow(table: "t", owner: p, key: "", version: 1, value: [])), from: p)
        h.receive(.stateRow(Self.row(p, "k", 0)), from: p)
        h.receive(.stateRow(Self.row(p, "k", Limits.maxIncarnation)), from: p)
        h.receive(.stateRow(StateRow(table: "t", owner: p, key: "k", version: 1, deleted: true, value: [1])), from: p)
        #expect(h.node.counters.refusals[.invalidName] == 2)
        #expect(h.node.counters.refusals[.incarnationOutOfRange] == 2)
        #expect(h.node.counters.refusals[.tooLarge] == 1)
        #expect(h.node.stateOwners.isEmpty)
    }

    /// A failed owner's rows become unavailable, come back when it is alive again, and go
    /// when it leaves.
    @Test func membershipMovesAnOwnersRows() throws {
        var h = try Harness(members: 2)
        let p = Harness.peer(0)
        h.receive(.stateRow(Self.row(p, "x", 1)), .stateRow(Self.row(p, "y", 2)), from: p)
        h.receive(.dead(Dead(incarnation: 0, name: p, from: Harness.peer(1), left: false)), from: Harness.peer(1))
        #expect(!h.node.isOwnerAvailable(p))
        h.learn(p, incarnation: 1)
        #expect(h.node.isOwnerAvailable(p))
        h.receive(.dead(Dead(incarnation: 1, name: p, from: p, left: true)), from: p)
        #expect(h.node.stateRows(of: p).isEmpty)
        #expect(
            Self.changes(h.outputs).map(\.kind) == [.added, .added, .ownerUnavailable, .ownerAvailable, .removed, .removed])
        // A departed owner's rows do not come back from a replica that has not heard.
        h.receive(.stateRow(Self.row(p, "z", 3)), from: Harness.peer(1))
        #expect(h.node.stateRows(of: p).isEmpty)
    }

    /// Tombstones are kept `stateTombstoneAge`, then collected on the timer.
    @Test func tombstonesAreCollectedAfterTheirAge() throws {
        var s = Settings()
        s.stateTombstoneAge = .seconds(80)
        var h = try Harness(members: 1, settings: s)
        h.feed(.writeRow(table: "t", key: "k", value: [1]))
        h.feed(.deleteRow(table: "t", key: "k"))
        h.fire(.state(.collect))
        #expect(h.node.stateRow(table: "t", owner: "a", key: "k") != nil)
        for _ in 0..<8 { h.fire(.state(.collect)) }
        #expect(h.now >= .zero + .seconds(80))
        #expect(h.node.stateRow(table: "t", owner: "a", key: "k") == nil)
        #expect(h.node.counters.tombstonesCollected == 1)
    }

    /// A resumed node versions above its snapshot, and answers a row of its previous life
    /// with a newer tombstone (or its current value), so no stale row survives. Without a
    /// restore grace, at once.
    @Test func aResumedOwnerWinsOverItsPreviousLife() throws {
        var h = try Harness(members: 1)
        for k in ["x", "y"] { h.feed(.writeRow(table: "t", key: k, value: [0])) }
        let snapshot = h.node.snapshot()
        #expect(snapshot.stateVersion == 2)
        var settings = Settings()
        settings.stateRestoreGrace = .zero
        var r = try GossipInstance(resuming: snapshot, name: "a", address: Harness.address("a"), settings: settings, seed: 1)
        _ = r.handle(.start, now: .zero)
        _ = r.handle(.datagram(from: Harness.address("x"), messages: [.alive(Alive(incarnation: 0, name: Harness.peer(0), address: Harness.address(Harness.peer(0)), tags: Tags()))]), now: .zero)
        _ = r.handle(.writeRow(table: "t", key: "x", value: [9]), now: .zero)
        #expect(r.stateRow(table: "t", owner: "a", key: "x")?.version == 3)
        _ = r.handle(.datagram(from: Harness.address(Harness.peer(0)), messages: [.stateRow(Self.row("a", "x", 1)), .stateRow(Self.row("a", "y", 2))]), now: .zero)
        #expect(r.stateRow(table: "t", owner: "a", key: "x")?.value == [9])
        #expect(r.stateRow(table: "t", owner: "a", key: "y") == Self.row("a", "y", 4, deleted: true))
        // A snapshot version at the ceiling is refused, as an incarnation there is.
        var bad = snapshot
        bad.stateVersion = Limits.maxIncarnation
        let b = try GossipInstance(resuming: bad, name: "a", address: Harness.address("a"), settings: Settings(), seed: 1)
        #expect(b.stateVersion == 0)
    }

    /// A restarted owner hears of its previous life's rows before its application has written
    /// them again (the agent's forwarding rows were withdrawn on every other host for 20 to
    /// 30 ms at each restart): within `stateRestoreGrace` of its start it leaves a row it does
    /// not hold in place, and at the grace's end withdraws only those still not written.
    @Test func aRestartedOwnerLeavesItsPreviousRowsUntilTheRestoreGraceEnds() throws {
        var h = try Harness(members: 1)
        for k in ["x", "y", "z"] { h.feed(.writeRow(table: "t", key: k, value: [0])) }
        let snapshot = h.node.snapshot()
        #expect(snapshot.stateVersion == 3)
        var r = try Harness()
        r.node = try GossipInstance(resuming: snapshot, name: "a", address: Harness.address("a"), settings: Settings(), seed: 1)
        r.timers = []
        r.feed(.start)
        r.learn(Harness.peer(0))
        r.feed(.writeRow(table: "t", key: "x", value: [9]))
        r.outputs.removeAll()
        r.receive(.stateRow(Self.row("a", "x", 1)), .stateRow(Self.row("a", "y", 2)), .stateRow(Self.row("a", "z", 3)), from: Harness.peer(0))
        #expect(r.node.stateRow(table: "t", owner: "a", key: "x")?.value == [9])
        #expect(r.node.stateRow(table: "t", owner: "a", key: "y") == nil, "not withdrawn yet")
        #expect(!r.outputs.contains { if case .rowChanged = $0 { true } else { false } }, "nothing changed")
        // The application writes z again within the grace; it never wrote y.
        r.now = .zero + .seconds(1)
        r.feed(.writeRow(table: "t", key: "z", value: [7]))
        r.fire(.state(.restore))
        #expect(r.now == Instant.zero + Settings().stateRestoreGrace)
        #expect(r.node.stateRow(table: "t", owner: "a", key: "y") == Self.row("a", "y", 6, deleted: true))
        #expect(r.node.stateRow(table: "t", owner: "a", key: "z")?.value == [7])
        #expect(r.node.stateRow(table: "t", owner: "a", key: "x")?.value == [9])
        // After the grace a stale row is answered at once again.
        r.receive(.stateRow(Self.row("a", "w", 2)), from: Harness.peer(0))
        #expect(r.node.stateRow(table: "t", owner: "a", key: "w") == Self.row("a", "w", 7, deleted: true))
    }

    /// Push/pull: the request carries a digest; the reply, the rows the requester lacks; an
    /// exchange between equal replicas carries no rows; the requester sends what the responder
    /// lacks in a follow-up of rows alone, answered empty.
    @Test func pushPullCarriesOnlyWhatDiffers() throws {
        var a = try Harness(name: "a")
        var b = try Harness(name: "b")
        a.learn("b")
        b.learn("a")
        for k in 0..<3 { a.feed(.writeRow(table: "t", key: "k\(k)", value: [UInt8(k)])) }
        b.feed(.writeRow(table: "t", key: "mine", value: [7]))

        func exchange(_ a: inout Harness, _ b: inout Harness) throws -> (reply: PushPull, followUp: PushPull?) {
            b.outputs.removeAll()
            a.outputs.removeAll()
            b.fire(.antiEntropy(.pushPull))
            let request = try #require(b.streams.last)
            a.feed(.stream(from: Harness.address("b"), request.message, conversation: .inbound(1)))
            let reply = try #require(a.replies.last)
            b.outputs.removeAll()
            b.feed(.stream(from: Harness.address("a"), reply.message, conversation: request.conversation))
            guard case .pushPull(let r) = reply.message else { throw CancellationError() }
            guard let f = b.streams.last, case .pushPull(let follow) = f.message else { return (r, nil) }
            a.outputs.removeAll()
            a.feed(.stream(from: Harness.address("b"), f.message, conversation: .inbound(2)))
            #expect(a.replies.last.map { if case .pushPull(let p) = $0.message { p.sections.isEmpty } else { false } } == true)
            return (r, follow)
        }

        let first = try exchange(&a, &b)
        let sent: [StateRow] = first.reply.sections.flatMap { s -> [StateRow] in if case .stateRows(let r) = s { r } else { [] } }
        #expect(Set(sent.map(\.key)) == ["k0", "k1", "k2"])
        #expect(first.followUp?.sections == [.stateRows(b.node.stateRows(of: "b"))])
        #expect(b.node.stateRows(of: "a") == a.node.stateRows(of: "a"))
        #expect(a.node.stateRows(of: "b") == b.node.stateRows(of: "b"))
        let second = try exchange(&a, &b)
        #expect(!second.reply.sections.contains { if case .stateRows = $0 { true } else { false } })
        #expect(second.followUp == nil)
    }
}
