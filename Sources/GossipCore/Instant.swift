/// A point in time in nanoseconds, on whatever clock drives the core: the runtime's monotonic
/// clock or the simulator's virtual clock. The core never reads a clock itself.
public struct Instant: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static let zero = Instant(nanoseconds: 0)

    public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }

    public static func + (a: Instant, d: Duration) -> Instant {
        Instant(nanoseconds: a.nanoseconds &+ d.nanoseconds)
    }

    public static func - (a: Instant, b: Instant) -> Duration {
        .nanoseconds(a.nanoseconds &- b.nanoseconds)
    }

    public var description: String { "t+\(Double(nanoseconds) / 1e9)s" }
}

extension Int64 {
    /// `value` rounded toward zero and clamped to the range of `Int64`; NaN is zero.
    init(saturating value: Double) {
        if value.isNaN {
            self = 0
        } else if value >= 9.223_372_036_854_775_807e18 {
            self = .max
        } else if value <= -9.223_372_036_854_775_808e18 {
            self = .min
        } else {
            self = Int64(value)
        }
    }
}

extension Duration {
    /// Whole nanoseconds, saturating: a duration of centuries is still only "very long".
    package var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return ns &+ attoseconds / 1_000_000_000
    }

    /// This duration times a real factor, in whole nanoseconds, saturating at the bounds of
    /// `Int64` (a NaN factor gives zero) so that no setting can make the conversion trap.
    func scaled(by factor: Double) -> Duration {
        .nanoseconds(Int64(saturating: Double(nanoseconds) * factor))
    }
}
