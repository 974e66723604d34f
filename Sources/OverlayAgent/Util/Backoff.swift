/// Waits between retries: exponential, capped, with full jitter (each wait is uniform in
/// zero to `min(cap, base × 2^attempt)`), so that many agents retrying after one event spread
/// out instead of retrying in lockstep. One value per retry loop; `reset` after a success.
struct Backoff: Sendable, Equatable {
    let base: Duration
    let cap: Duration
    private(set) var attempt = 0

    /// - Parameters: base > 0, cap >= base.
    init(base: Duration, cap: Duration) {
        precondition(base > .zero && cap >= base, "backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
    }

    /// The ceiling of the next wait, without jitter.
    var ceiling: Duration {
        // 2^attempt overflows nothing: past 62 doublings the cap has long been reached.
        let factor = attempt >= 62 ? Int64.max : Int64(1) << Int64(attempt)
        let nanos = base.nanoseconds.multipliedReportingOverflow(by: factor)
        if nanos.overflow { return cap }
        return min(cap, .nanoseconds(nanos.partialValue))
    }

    /// The next wait: uniform in zero to `ceiling`, which then doubles up to `cap`.
    mutating func next<R: RandomNumberGenerator>(using random: inout R) -> Duration {
        let wait = Duration.nanoseconds(Int64.random(in: 0...max(0, ceiling.nanoseconds), using: &random))
        if ceiling < cap { attempt += 1 }
        return wait
    }

    mutating func next() -> Duration {
        var random = SystemRandomNumberGenerator()
        return next(using: &random)
    }

    mutating func reset() { attempt = 0 }
}

extension Duration {
    /// Whole nanoseconds, saturating at `Int64.max`.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let whole = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if whole.overflow { return seconds < 0 ? .min : .max }
        return whole.partialValue.addingReportingOverflow(attoseconds / 1_000_000_000).overflow
            ? .max : whole.partialValue + attoseconds / 1_000_000_000
    }
}
