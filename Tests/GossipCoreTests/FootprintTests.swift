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
        #expect(MemoryLayout<BroadcastQueue.Entry>.stride == 16)
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

    /// A join storm's shape: a node learns `n` members from datagrams of alives (40 a
    /// datagram, as 1,400 bytes carry), queues an update for each, then hears every one of them
    /// again. Its table stays under 32 bytes per member and its queues under 48 per update
    /// queued (arrays grown by a quarter, 16-byte entries); the repeated news leaves the table
    /// and the queue as they were and gives no output (`MemberTable.heldAlives`).
    @Test(arguments: [(1, 1_000), (2, 3_000), (3, 5_000)] as [(UInt64, Int)])
    func aStormCostsLittlePerMember(seed: UInt64, n: Int) throws {
        var core = try GossipInstance(
            name: "a", address: Address(ipv4: 0x0A00_0001, port: 7946), settings: Settings(), seed: seed)
        _ = core.handle(.start, now: .zero)
        let alives = (0..<n).map {
            Message.alive(Alive(incarnation: 1, name: "node-\($0)", address: Address(ipv4: 0x0B00_0000 + UInt32($0), port: 7946), tags: Tags()))
        }
        let from = Address(ipv4: 0x0B00_0000, port: 7946)
        for k in stride(from: 0, to: n, by: 40) {
            _ = core.handle(.datagram(from: from, messages: Array(alives[k..<min(k + 40, n)])), now: .zero)
        }
        #expect(core.table.count == n + 1)
        #expect(core.pendingBroadcasts == n)
        let footprint = core.footprint
        #expect(footprint.table <= 32 * n, "table \(footprint.table) bytes for \(n) members")
        #expect(footprint.queues <= 48 * n, "queues \(footprint.queues) bytes for \(n) updates")
        let held = core.table.members
        for k in stride(from: 0, to: n, by: 40) {
            let outputs = core.handle(.datagram(from: from, messages: Array(alives[k..<min(k + 40, n)])), now: .zero)
            #expect(outputs.isEmpty)
        }
        #expect(core.table.members == held)
        #expect(core.pendingBroadcasts == n)
        #expect(core.footprint.table == footprint.table && core.footprint.queues == footprint.queues)
    }

    /// News already held is dropped before the other messages of its datagram are handled, yet
    /// a newer incarnation of the same member in that datagram still applies, and so does the
    /// held news of a member whose box differs (values equal): `alive()` decides those.
    @Test func heldNewsIsSkippedAndNewerNewsIsNot() throws {
        var core = try GossipInstance(
            name: "a", address: Address(ipv4: 0x0A00_0001, port: 7946), settings: Settings(), seed: 1)
        _ = core.handle(.start, now: .zero)
        let b = Alive(incarnation: 1, name: "b", address: Address(ipv4: 0x0A00_0002, port: 7946), tags: Tags())
        _ = core.handle(.datagram(from: b.address, messages: [.alive(b)]), now: .zero)
        let twin = Alive(incarnation: 1, name: "b", address: b.address, tags: Tags())
        let newer = Alive(incarnation: 2, name: "b", address: b.address, tags: ["k": "v"])
        #expect(core.table.heldAlives(in: [.alive(b), .alive(twin), .alive(newer), .alive(b)], selfName: "a") == 0b1001)
        let self_ = try #require(core.table.member(named: "a"))
        #expect(core.table.heldAlives(in: [.alive(Alive(self_.identity))], selfName: "a") == 0)
        let outputs = core.handle(.datagram(from: b.address, messages: [.alive(b), .alive(twin), .alive(newer), .alive(b)]), now: .zero)
        let m = try #require(core.table.member(named: "b"))
        #expect(m.incarnation == 2 && m.tags == ["k": "v"] && m.identity === newer.identity)
        #expect(outputs.contains { if case .event(let e) = $0 { e.kind == .updated } else { false } })
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
