import GossipCore
import Testing

/// What a node sends on for others (relayed answers, pushed events and queries) came from a
/// peer whose datagrams may be larger: it must still fit this node's own budget.
///
/// Found by core-fuzz (core-crash-06abdcd5…, session 4): with 128-byte names and the smallest
/// budget `Settings.validate()` allows, a relay of a 40-byte answer became a 319-byte datagram
/// in a 307-byte budget. Fixed in `Datagrams.swift` `send(_:to:)`, for every message a node
/// sends on: a datagram its own messages overflow is not sent, and counted.
@Suite struct ForwardedSizeTests {
    static let long = String(repeating: "n", count: Limits.maxNameLength - 1)

    static func smallBudget() -> Settings {
        var s = Settings()
        s.packetBudget = Message.largestFixedSize
        return s
    }

    @Test func aRelayedAnswerLargerThanTheBudgetIsNotSent() throws {
        var h = try Harness(name: Self.long + "a", settings: Self.smallBudget())
        h.learn(Self.long + "b")
        h.learn(Self.long + "c")
        h.outputs.removeAll()
        let answer = QueryResponse(
            time: LamportClock.ceiling - 1, id: .max, origin: Self.long + "b", from: Self.long + "c", isAck: false,
            payload: [UInt8](repeating: 4, count: 40))
        h.receive(.relay(QueryRelay(response: answer)), from: Self.long + "c")
        let budget = h.node.settings.payloadBudget
        for (_, messages) in h.sent { #expect(messages.reduce(0) { $0 + $1.encodedSize } <= budget) }
        #expect(!h.sent.contains { $0.messages.contains { if case .queryResponse = $0 { true } else { false } } })
        #expect(h.node.counters.oversizedNotSent == 1)
    }

    @Test func anEventLargerThanTheBudgetIsDeliveredButNotPushedOn() throws {
        var h = try Harness(members: 5, settings: Self.smallBudget())
        let e = UserEvent(time: 3, origin: Harness.peer(0), name: "big", payload: [UInt8](repeating: 1, count: 400), coalesce: false)
        h.receive(.userEvent(e), from: Harness.peer(0))
        #expect(h.outputs.contains { if case .userEvent(let d) = $0 { d == e } else { false } })
        #expect(!h.sent.contains { $0.messages.contains { if case .userEvent = $0 { true } else { false } } })
        #expect(h.node.counters.oversizedNotSent == 1)
    }
}
