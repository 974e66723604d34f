import GossipCore
import Testing

/// User events on one node driven by hand: the edges of the settings and of the input.
@Suite struct UserEventCoreTests {
    /// With no recent events kept for push/pull, events are still delivered, and push/pull
    /// carries the clocks only.
    @Test func keepingNoEventsForPushPullStillDelivers() throws {
        var s = Settings()
        s.eventsInPushPull = 0
        var h = try Harness(members: 3, settings: s)
        h.feed(.fireEvent(name: "e", payload: [1], coalesce: false))
        h.receive(.userEvent(UserEvent(time: 5, origin: Harness.peer(1), name: "x", payload: [], coalesce: false)), from: Harness.peer(1))
        #expect(h.outputs.filter { if case .userEvent = $0 { true } else { false } }.count == 2)
        #expect(h.node.eventClock == 6)
    }

    /// Copies of one event, whichever way they come, are delivered once; an older time than
    /// the window is refused as too old.
    @Test func copiesAreDeliveredOnceAndTheWindowIsHeld() throws {
        var s = Settings()
        s.eventWindow = 8
        var h = try Harness(members: 3, settings: s)
        let e = UserEvent(time: 20, origin: Harness.peer(0), name: "x", payload: [], coalesce: false)
        for _ in 0..<3 { h.receive(.userEvent(e), from: Harness.peer(0)) }
        h.receive(.userEvent(UserEvent(time: 12, origin: Harness.peer(2), name: "old", payload: [], coalesce: false)), from: Harness.peer(2))
        #expect(h.outputs.filter { if case .userEvent = $0 { true } else { false } }.count == 1)
        #expect(h.node.counters.duplicates == 2)
        #expect(h.node.counters.tooOld == 1)
    }

    /// A forged time at the Lamport ceiling is refused where it enters, and moves no clock.
    @Test func aTimeAtTheCeilingIsRefused() throws {
        var h = try Harness(members: 2)
        let e = UserEvent(time: LamportClock.ceiling, origin: Harness.peer(0), name: "x", payload: [], coalesce: false)
        h.receive(.userEvent(e), from: Harness.peer(0))
        #expect(h.refusals == [.lamportTimeOutOfRange])
        #expect(h.node.eventClock == 0)
    }
}
