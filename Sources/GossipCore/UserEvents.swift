/// User events (Serf's `serf event`): the event clock, the dedupe buffer that makes delivery
/// exactly once, the recent events carried in push/pull, and same-named events held for
/// coalescing. The router (`EventFlow.swift`) moves events between this part and the network.
struct UserEvents: Sendable {
    var clock: LamportClock
    var seen: RecentStamps
    /// The newest events delivered, oldest first, at most `keep`: what push/pull offers.
    private(set) var recent: [UserEvent] = []
    let keep: Int
    /// Coalescable events held until the window closes: the newest per name.
    private(set) var held: [String: UserEvent] = [:]

    init(window: Int, keep: Int, clock: UInt64 = 0) {
        self.clock = LamportClock(next: clock)
        // After a restart, the clock the node had is the floor: nothing it delivered is new again.
        self.seen = RecentStamps(window: window, floor: clock)
        self.keep = keep
    }

    /// Remembers a delivered event for push/pull.
    mutating func remember(_ e: UserEvent) {
        guard keep > 0 else { return }
        if recent.count == keep { recent.removeFirst() }
        recent.append(e)
    }

    /// Holds a coalescable event; returns whether it is the first held (the window opens).
    mutating func hold(_ e: UserEvent) -> Bool {
        let first = held.isEmpty
        if let old = held[e.name], old.time > e.time { return first }
        held[e.name] = e
        return first
    }

    /// The held events, oldest first, and an empty hold.
    mutating func release() -> [UserEvent] {
        defer { held.removeAll(keepingCapacity: true) }
        return held.values.sorted { ($0.time, $0.origin) < ($1.time, $1.origin) }
    }

    /// The recent events that fit in `budget` bytes of section, newest kept first.
    func section(queryClock: UInt64, budget: Int) -> EventsSection {
        var events: [UserEvent] = []
        var size = 0
        for e in recent.reversed() {
            var c = SizeCounter()
            c.userEvent(e)
            if size + c.size > budget { break }
            size += c.size
            events.append(e)
        }
        return EventsSection(eventClock: clock.next, queryClock: queryClock, events: events.reversed())
    }
}
