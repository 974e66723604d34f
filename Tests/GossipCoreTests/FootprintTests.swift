@testable import GossipCore
import Testing

/// What a node holds once per known member (its table entry, and during a join storm a queued
/// update and the update's message): a cluster of N holds N^2 of each, so their sizes decide
/// how large a cluster the simulator can hold (Docs/benchmarks/SIMULATION.md).
@Suite struct FootprintTests {
    @Test func perMemberValuesStaySmall() {
        #expect(MemoryLayout<Member>.stride == 24)
        #expect(MemoryLayout<Message>.stride == 8)
        #expect(MemoryLayout<BroadcastKey>.stride == 32)
        #expect(MemoryLayout<BroadcastQueue.Entry>.stride == 32)
    }

    /// A node that learns a member from an `alive` keeps the message's identity, not a copy:
    /// every node of a simulation that hears the same message shares one.
    @Test func aMemberLearnedFromAnAliveSharesItsIdentity() throws {
        var core = try GossipInstance(
            name: "a", address: Address(ipv4: 0x0A00_0001, port: 7946), settings: Settings(), seed: 1)
        _ = core.handle(.start, now: .zero)
        let alive = Alive(incarnation: 3, name: "b", address: Address(ipv4: 0x0A00_0002, port: 7946), tags: ["role": "x"])
        _ = core.handle(.datagram(from: alive.address, messages: [.alive(alive)]), now: .zero)
        let b = try #require(core.table.member(named: "b"))
        #expect(b.identity === alive.identity)
        #expect(b.incarnation == 3 && b.tags == ["role": "x"] && b.status == .alive)
    }

    /// Setting a field of a shared identity changes only the copy set.
    @Test func settingAFieldDoesNotReachOtherCopies() {
        let a = Member(name: "m", address: Address(ipv4: 1, port: 1), incarnation: 1, status: .alive, tags: Tags(), statusChangedAt: .zero)
        var b = a
        b.incarnation = 2
        #expect(a.incarnation == 1 && b.incarnation == 2)
        #expect(a != b)
        b.incarnation = 1
        #expect(a == b && a.hashValue == b.hashValue)
    }
}
