@testable import GossipCore
import Testing

/// The member table's name index (open addressing, deletion by moving entries back) against a
/// plain dictionary of what it should hold, through inserts, removals, status changes, reaps
/// and shuffles in a random order.
@Suite struct MemberTableTests {
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func theNameIndexFindsEveryMemberAndNoOther(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var table = MemberTable()
        var names: Set<String> = []
        func member(_ n: String, _ status: MemberStatus = .alive) -> Member {
            Member(name: n, address: Address(ipv4: 1, port: 1), incarnation: 0, status: status, tags: Tags(), statusChangedAt: .zero)
        }
        for step in 0..<3_000 {
            switch rng.index(below: 10) {
            case 0...4:
                let n = "m\(rng.index(below: 600))"
                if names.insert(n).inserted { table.insert(member(n), rng: &rng) }
            case 5, 6:
                guard table.count > 0 else { continue }
                let i = rng.index(below: table.count)
                names.remove(table.remove(at: i).name)
            case 7:
                guard table.count > 0 else { continue }
                let i = rng.index(below: table.count)
                table.update(i) { $0.status = .failed; $0.statusChangedAt = Instant(nanoseconds: Int64(step)) }
            case 8:
                for m in table.reap(now: Instant(nanoseconds: Int64(step)), failedAfter: .nanoseconds(50), leftAfter: .zero, keeping: "") {
                    names.remove(m.name)
                }
            default:
                table.shuffle(rng: &rng)
            }
            #expect(table.count == names.count)
        }
        for i in 0..<table.count {
            #expect(table.position(of: table[i].name) == i)
            #expect(table.position(of: table[i].identity) == i)
        }
        for k in 0..<600 where !names.contains("m\(k)") {
            #expect(table.position(of: "m\(k)") == nil)
        }
        #expect(table.liveCount == table.members.filter { $0.status <= .suspect }.count)
    }

    /// Nodes of a formed cluster share the arrays; a status change copies only its own.
    @Test func aFormedTableKeepsEveryMemberFindable() {
        let members = (0..<100).map {
            Member(name: "n\($0)", address: Address(ipv4: UInt32($0), port: 1), incarnation: 0, status: .alive, tags: Tags(), statusChangedAt: .zero)
        }
        let formed = FormedMembership(members)
        var a = formed.table
        let b = formed.table
        a.update(5) { $0.status = .suspect }
        #expect(a[5].status == .suspect && b[5].status == .alive)
        for i in 0..<100 { #expect(a.position(of: "n\(i)") == i && b.position(of: "n\(i)") == i) }
        #expect(a.liveCount == 100 && b.liveCount == 100)
    }
}
