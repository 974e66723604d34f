import GossipCore
import Testing

/// Serf's `force-leave` in the core: a leave notice on a failed member's behalf.
@Suite struct ForceLeaveCoreTests {
    private func refusals(_ h: Harness) -> [RequestError] {
        h.outputs.compactMap { if case .requestRefused(.forceLeave, let e) = $0 { e } else { nil } }
    }

    private func notices(_ h: Harness, about member: String) -> [Dead] {
        h.sent.flatMap(\.messages).compactMap { if case .dead(let d) = $0, d.name == member { d } else { nil } }
    }

    @Test func aFailedMemberIsMarkedLeftAndTheNoticeGoesOutAtItsIncarnation() throws {
        var h = try Harness(members: 2)
        let b = Harness.peer(0)
        h.receive(.dead(Dead(incarnation: 4, name: b, from: "peer-1", left: false)), from: "peer-1")
        h.outputs.removeAll()
        h.feed(.forceLeave(member: b, prune: false))
        #expect(refusals(h).isEmpty)
        #expect(h.node.member(named: b)?.status == .left)
        #expect(h.events.map(\.kind) == [.left])
        h.fire(.dissemination(.gossip))
        let notice = try #require(notices(h, about: b).first, "the departure is gossiped")
        #expect(notice.left && notice.incarnation == 4 && notice.from == "a")

        // Another member that saw the failure takes the notice as a departure too.
        var other = try Harness(name: "c", members: 2)
        other.receive(.dead(Dead(incarnation: 4, name: b, from: "peer-1", left: false)), from: "peer-1")
        other.outputs.removeAll()
        other.receive(.dead(notice), from: "a")
        #expect(other.node.member(named: b)?.status == .left)
        #expect(other.events.map(\.kind) == [.left])

        // The member itself, were it alive after all, refutes the notice.
        var target = try Harness(name: b, members: 1)
        target.receive(.dead(notice), from: "a")
        #expect(target.node.currentIncarnation > notice.incarnation)
    }

    @Test func pruneForgetsTheMemberAtOnce() throws {
        var h = try Harness(members: 2)
        let b = Harness.peer(0)
        h.receive(.dead(Dead(incarnation: 0, name: b, from: "peer-1", left: false)), from: "peer-1")
        h.outputs.removeAll()
        h.feed(.forceLeave(member: b, prune: true))
        #expect(refusals(h).isEmpty)
        #expect(h.node.member(named: b) == nil)
        #expect(h.events.map(\.kind) == [.left, .reaped])
    }

    @Test func aMemberThatLeftIsOnlyPruned() throws {
        var h = try Harness(members: 2)
        let b = Harness.peer(0)
        h.receive(.dead(Dead(incarnation: 1, name: b, from: b, left: true)), from: b)
        h.outputs.removeAll()
        h.feed(.forceLeave(member: b, prune: false))
        #expect(refusals(h).isEmpty && h.events.isEmpty)
        h.feed(.forceLeave(member: b, prune: true))
        #expect(h.node.member(named: b) == nil)
        #expect(h.events.map(\.kind) == [.reaped])
    }

    @Test(arguments: [MemberStatus.alive, .suspect])
    func aLiveOrSuspectMemberIsRefused(status: MemberStatus) throws {
        var h = try Harness(members: 2)
        let b = Harness.peer(0)
        if status == .suspect { h.receive(.suspect(Suspect(incarnation: 0, name: b, from: "peer-1")), from: "peer-1") }
        h.outputs.removeAll()
        h.feed(.forceLeave(member: b, prune: true))
        #expect(refusals(h) == [.memberNotFailed(b, status)])
        #expect(h.node.member(named: b)?.status == status)
        #expect(h.events.isEmpty)
        #expect(h.node.counters.requestsRefused == 1)
    }

    @Test(arguments: ["nobody", "a"])
    func anUnknownNameOrThisNodeIsRefused(name: String) throws {
        var h = try Harness(members: 1)
        h.feed(.forceLeave(member: name, prune: false))
        #expect(refusals(h) == [.unknownMember(name)])
        #expect(h.node.member(named: "a")?.status == .alive)
        #expect(h.events.isEmpty)
    }
}
