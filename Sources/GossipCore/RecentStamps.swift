/// Which stamped items (user events, queries) a node has already delivered, for the last
/// `window` Lamport times: the dedupe buffer that makes delivery exactly once however many
/// copies arrive, by gossip, eager push or push/pull.
///
/// An item is identified by its Lamport time and its origin's name: an origin stamps each item
/// with a new time, so the pair is unique. Items older than the window cannot be told from
/// duplicates and are refused as too old, as Serf's event buffer does (`EventBuffer`, 512).
/// After a restart the node resumes with `floor` at the clock it had (kept in the snapshot),
/// so nothing it delivered before is delivered again.
///
/// Memory is bounded: `window` slots of at most `perTime` origins each. A member that stamps
/// many items at one time under many names fills its slot and the rest are refused, counted.
public struct RecentStamps: Sendable {
    public enum Verdict: Equatable, Sendable {
        /// Not seen before: deliver it and pass it on.
        case new
        /// Already delivered: drop it, and do not pass it on again.
        case duplicate
        /// Older than the window or below the floor: it cannot be told from a duplicate.
        case tooOld
        /// Its time's slot is full.
        case slotFull
    }

    public let window: UInt64
    public let perTime: Int
    /// Items stamped below this are too old, whatever the window holds.
    public private(set) var floor: UInt64
    /// The highest time recorded so far; the window is `(newest - window, newest]`.
    public private(set) var newest: UInt64 = 0
    private var slots: [Slot]

    private struct Slot: Sendable {
        var time: UInt64 = .max
        var origins: [String] = []
    }

    /// - Parameters:
    ///   - window: Lamport times remembered, 1...65,536.
    ///   - perTime: distinct origins remembered at one time, at least 1.
    ///   - floor: the lowest time still new (after a restart: the clock the node had).
    public init(window: Int, perTime: Int = 64, floor: UInt64 = 0) {
        precondition((1...65_536).contains(window) && perTime >= 1, "window 1...65536, perTime ≥ 1")
        self.window = UInt64(window)
        self.perTime = perTime
        self.floor = floor
        self.slots = Array(repeating: Slot(), count: window)
    }

    /// Records `(time, origin)` if it is new. `time` must have been admitted
    /// (`LamportClock.admits`).
    public mutating func record(time: UInt64, origin: String) -> Verdict {
        if time < floor { return .tooOld }
        if newest >= window, time <= newest - window { return .tooOld }
        let i = Int(time % window)
        if slots[i].time != time {
            slots[i] = Slot(time: time, origins: [])
        } else if slots[i].origins.contains(origin) {
            return .duplicate
        }
        if slots[i].origins.count >= perTime { return .slotFull }
        slots[i].origins.append(origin)
        newest = max(newest, time)
        return .new
    }

    /// Whether `(time, origin)` was recorded and is still inside the window.
    public func contains(time: UInt64, origin: String) -> Bool {
        let slot = slots[Int(time % window)]
        return slot.time == time && slot.origins.contains(origin)
    }

    /// Refuses everything stamped below `time` from now on (a node that joins without asking
    /// for old events sets it to the cluster's clock).
    public mutating func raiseFloor(to time: UInt64) {
        floor = max(floor, time)
    }
}
