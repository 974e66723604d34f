@testable import GossipCore
import Testing

@Suite struct BroadcastQueueTests {
    static func alive(_ i: Int, incarnation: UInt64 = 0, tags: Tags = Tags()) -> Message {
        .alive(Alive(incarnation: incarnation, name: "node-\(i)", address: Address(ipv4: UInt32(i), port: 7946), tags: tags))
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func aDatagramNeverExceedsTheBudget(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var q = BroadcastQueue()
        for i in 0..<500 {
            var tags = Tags()
            for k in 0..<rng.index(below: 4) { tags["k\(k)"] = String(repeating: "v", count: rng.index(below: 60)) }
            q.enqueue(Self.alive(i, tags: tags), key: .member("node-\(i)"))
        }
        for _ in 0..<200 {
            let budget = 100 + rng.index(below: 1300)
            var left = budget
            var messages: [Message] = []
            q.fill(into: &messages, budget: &left, limit: 12)
            let used = messages.reduce(0) { $0 + $1.encodedSize }
            #expect(used <= budget)
            #expect(left == budget - used)
        }
    }

    @Test func leastTransmittedGoFirstAndNewestAmongEquals() {
        var q = BroadcastQueue()
        q.enqueue(Self.alive(1), key: .member("node-1"))
        q.enqueue(Self.alive(2), key: .member("node-2"))
        var budget = Self.alive(1).encodedSize
        var first: [Message] = []
        q.fill(into: &first, budget: &budget, limit: 5)
        #expect(first == [Self.alive(2)])  // newest first
        budget = Self.alive(1).encodedSize
        var second: [Message] = []
        q.fill(into: &second, budget: &budget, limit: 5)
        #expect(second == [Self.alive(1)])  // never sent beats sent once
    }

    @Test func aNewerUpdateReplacesTheOlderOne() {
        var q = BroadcastQueue()
        q.enqueue(Self.alive(1, incarnation: 1), key: .member("node-1"))
        q.enqueue(Self.alive(1, incarnation: 2), key: .member("node-1"))
        #expect(q.count == 1)
        var budget = 1400
        var messages: [Message] = []
        q.fill(into: &messages, budget: &budget, limit: 5)
        #expect(messages == [Self.alive(1, incarnation: 2)])
    }

    @Test(arguments: [1, 4, 12])
    func anUpdateRetiresAfterTheRetransmitLimit(limit: Int) {
        var q = BroadcastQueue()
        q.enqueue(Self.alive(1), key: .member("node-1"))
        var sent = 0
        for _ in 0..<(limit + 5) {
            var budget = 1400
            var messages: [Message] = []
            q.fill(into: &messages, budget: &budget, limit: limit)
            sent += messages.count
        }
        #expect(sent == limit)
        #expect(q.count == 0)
    }

    @Test func oneDatagramNeverCarriesTheSameUpdateTwice() {
        var q = BroadcastQueue()
        for i in 0..<3 { q.enqueue(Self.alive(i), key: .member("node-\(i)")) }
        var budget = 1400
        var messages: [Message] = []
        q.fill(into: &messages, budget: &budget, limit: 10)
        #expect(messages.count == 3)
        #expect(Set(messages).count == 3)
    }
}

@Suite struct BroadcastQueueBoundTests {
    /// A peer raising its own incarnation as fast as it can sends a stream of updates about one
    /// key; superseded entries must not pile up where no fill ever reaches them.
    @Test func aStreamOfUpdatesAboutOneKeyKeepsTheQueueSmall() {
        var q = BroadcastQueue()
        for i in 0..<10_000 as Range<UInt64> {
            q.enqueue(.alive(Alive(incarnation: i, name: "x", address: Address(ipv4: 1, port: 1), tags: Tags())), key: .member("x"))
            q.enqueue(.suspect(Suspect(incarnation: i, name: "y\(i % 3)", from: "z")), key: .member("y\(i % 3)"))
        }
        #expect(q.count == 4)
        #expect(q.storedEntries <= 2 * 4 + 64 + 1)
        var out: [Message] = []
        var budget = 1_400
        q.fill(into: &out, budget: &budget, limit: 3)
        #expect(out.contains(.alive(Alive(incarnation: 9_999, name: "x", address: Address(ipv4: 1, port: 1), tags: Tags()))))
        #expect(out.count == 4, "only the newest update per key survives")
    }
}
