import GossipCore
import Testing

/// Updates are keyed by class; one class never replaces or starves another.
@Suite struct BroadcastClassTests {
    /// A stand-in for a user event: a notice about a member nobody knows, which receivers ignore.
    static func event(_ i: Int) -> Message {
        .dead(Dead(incarnation: 0, name: "event-\(i)-" + String(repeating: "p", count: 64), from: "x", left: false))
    }

    @Test func tenThousandQueuedEventsDoNotDelayARefutation() throws {
        var h = try Harness(members: 5)
        for i in 0..<10_000 { h.node.enqueueBroadcast(Self.event(i), key: .userEvent(time: UInt64(i), origin: "t")) }
        // Capped at Serf's queue depth, trimmed an eighth below it when it overflows.
        let pending = h.node.pendingBroadcasts(of: .userEvent)
        #expect(pending <= 4_096 && pending > 4_096 - 4_096 / 8)
        #expect(h.node.droppedBroadcasts(of: .userEvent) == 10_000 - pending)
        h.outputs.removeAll()
        h.receive(.suspect(Suspect(incarnation: 0, name: "a", from: "peer-0")), from: "peer-0")
        // The refutation leaves at once, first in its datagrams, with the events after it.
        let first = try #require(h.sent.first)
        let a = try #require(first.messages.first?.alive, "the first message is the refutation")
        #expect(a.name == "a" && a.incarnation == 1)
        #expect(first.messages.count > 1, "events fill the rest of the datagram")
    }

    @Test func eventsKeepAShareOfEveryDatagramWhileMembershipChurns() throws {
        var h = try Harness(members: 0)
        // More membership news than one datagram holds.
        for i in 0..<200 { h.learn("member-with-a-long-name-\(i)") }
        for i in 0..<10 { h.node.enqueueBroadcast(Self.event(i), key: .userEvent(time: UInt64(i), origin: "t")) }
        h.outputs.removeAll()
        h.fire(.dissemination(.gossip))
        let datagrams = h.sent
        #expect(!datagrams.isEmpty)
        for d in datagrams {
            let eventBytes = d.messages.filter { if case .dead = $0 { true } else { false } }.reduce(0) { $0 + $1.encodedSize }
            let all = d.messages.reduce(0) { $0 + $1.encodedSize }
            #expect(eventBytes > 0, "every datagram carries events")
            #expect(all - eventBytes > 0, "and membership")
        }
    }

    @Test func aUserEventNeverReplacesAMemberUpdateWithTheSameName() throws {
        var h = try Harness(members: 1)
        let before = h.node.pendingBroadcasts(of: .membership)
        h.node.enqueueBroadcast(Self.event(0), key: .userEvent(time: 0, origin: "t"))
        h.node.enqueueBroadcast(Self.event(1), key: .state(table: "t", owner: "peer-0", key: "peer-0"))
        #expect(h.node.pendingBroadcasts(of: .membership) == before)
        #expect(h.node.pendingBroadcasts == before + 2)
    }

    @Test func capsDropTheMostSentFirst() {
        var q = BroadcastQueue()
        for i in 0..<4 { q.enqueue(Self.event(i), key: .userEvent(time: UInt64(i), origin: "t")) }
        var out: [Message] = []
        var budget = Self.event(0).encodedSize * 2
        q.fill(into: &out, budget: &budget, limit: 10)  // events 3 and 2 sent once
        q.enqueue(Self.event(4), key: .userEvent(time: 4, origin: "t"))
        #expect(q.trim(toAtMost: 3) == 2)
        out.removeAll()
        budget = 10_000
        q.fill(into: &out, budget: &budget, limit: 10)
        #expect(Set(out) == Set([Self.event(0), Self.event(1), Self.event(4)]), "the never-sent stay")
    }
}
