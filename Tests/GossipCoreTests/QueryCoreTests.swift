import GossipCore
import Testing

/// Queries on one node driven by hand: answering rules and the asker's end.
@Suite struct QueryCoreTests {
    static func query(from origin: String, timeoutMs: UInt64 = 1_000, wantsAck: Bool = true) -> QueryMessage {
        QueryMessage(
            time: 3, id: 42, origin: origin, originAddress: Harness.address(origin), wantsAck: wantsAck, relayFactor: 0,
            timeoutMilliseconds: timeoutMs, filters: [], name: "q", payload: [])
    }

    static func offered(_ h: Harness) -> [IncomingQuery] {
        h.outputs.compactMap { if case .query(let q) = $0 { q } else { nil } }
    }

    @Test func aQueryIsAnsweredOnceAndNotAfterItsDeadline() throws {
        var h = try Harness(members: 3)
        h.receive(.query(Self.query(from: Harness.peer(0))), from: Harness.peer(0))
        let q = try #require(Self.offered(h).first)
        #expect(h.sent.contains { $0.to == Harness.address(Harness.peer(0)) && $0.messages.contains { if case .queryResponse(let r) = $0 { r.isAck } else { false } } })
        h.feed(.respond(to: q.responder, payload: [1]))
        h.feed(.respond(to: q.responder, payload: [2]))
        let refused = h.outputs.compactMap { if case .requestRefused(_, let e) = $0 { e } else { nil } }
        #expect(refused == [.notAnswerable(q.responder)])
        let answers = h.sent.flatMap(\.messages).compactMap { if case .queryResponse(let r) = $0, !r.isAck { r } else { nil } }
        #expect(answers.map(\.payload) == [[1]])

        // A second query, answered after its deadline, is refused.
        var late = Self.query(from: Harness.peer(1), timeoutMs: 100)
        late.time = 9
        h.receive(.query(late), from: Harness.peer(1))
        let second = try #require(Self.offered(h).last)
        h.now = h.now + .milliseconds(101)
        h.feed(.respond(to: second.responder, payload: [3]))
        #expect(h.outputs.contains { if case .requestRefused(.respond(second.responder), .notAnswerable) = $0 { true } else { false } })
    }

    @Test func theAskerEndsWhenEverySelectedMemberAnsweredOrFailed() throws {
        var h = try Harness(members: 3)
        h.feed(.query(QueryRequest(name: "q", filters: [.nodes([Harness.peer(0), Harness.peer(1)])], timeout: .seconds(5)), id: QueryID(raw: 1)))
        let sent = try #require(h.sent.flatMap(\.messages).compactMap { if case .query(let q) = $0 { q } else { nil } }.first)
        let answer = QueryResponse(time: sent.time, id: sent.id, origin: h.node.name, from: Harness.peer(0), isAck: false, payload: [7])
        h.receive(.queryResponse(answer), from: Harness.peer(0))
        h.receive(.queryResponse(answer), from: Harness.peer(0))
        #expect(h.node.counters.queryResponsesIgnored == 1, "a second answer from one member is ignored")
        #expect(!h.outputs.contains { if case .queryFinished = $0 { true } else { false } })
        // peer-1 fails: nobody is left to wait for.
        h.receive(.dead(Dead(incarnation: 0, name: Harness.peer(1), from: Harness.peer(2), left: true)), from: Harness.peer(2))
        #expect(h.outputs.contains { if case .queryFinished(QueryID(raw: 1), .allResponded) = $0 { true } else { false } })
        #expect(h.node.openQueries == 0)
    }

    @Test func aQueryOutOfRangeIsRefusedWhereItEnters() throws {
        var h = try Harness(members: 2)
        h.receive(.query(Self.query(from: Harness.peer(0), timeoutMs: 0)), from: Harness.peer(0))
        h.receive(.query(Self.query(from: Harness.peer(0), timeoutMs: 301_000)), from: Harness.peer(0))
        #expect(Self.offered(h).isEmpty)
        #expect(h.node.counters.refusals[.queryOutOfRange] == 2)
    }
}
