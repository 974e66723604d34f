/// A Lamport clock (Lamport 1978, "Time, clocks, and the ordering of events in a distributed
/// system"): a counter every node keeps, stamped on what it originates and raised past every
/// stamp it sees, so that anything made after seeing something carries a larger time.
///
/// As in Serf, a node keeps one clock per stream of things it orders (membership intents, user
/// events, queries). Times from outside are checked against `ceiling` where they enter (as
/// incarnations are against `Limits.maxIncarnation`): a forged time near `UInt64.max` would
/// otherwise leave no room above it, and `witness` is then never asked to go past it.
public struct LamportClock: Sendable, Hashable {
    /// The highest time a node accepts or stamps: far below `UInt64.max`, so adding one never
    /// overflows. An honest cluster stamping a million times a second needs 146,000 years.
    public static let ceiling: UInt64 = 1 << 62

    /// The time the next stamp will carry: above every time stamped or witnessed so far.
    public private(set) var next: UInt64

    public init(next: UInt64 = 0) {
        self.next = min(next, Self.ceiling)
    }

    /// Whether a time from outside may be accepted (`witness`ed, compared, stored).
    public static func admits(_ time: UInt64) -> Bool { time < ceiling }

    /// Returns the time for something this node originates, and moves past it; nil once the
    /// clock has reached `ceiling` (only forged times get it there).
    public mutating func stamp() -> UInt64? {
        guard next < Self.ceiling else { return nil }
        defer { next += 1 }
        return next
    }

    /// Moves past `time`, seen on something another node made. Times at or above `ceiling`
    /// must have been refused before (`admits`); they are ignored here.
    public mutating func witness(_ time: UInt64) {
        guard Self.admits(time), time >= next else { return }
        next = time + 1
    }
}
