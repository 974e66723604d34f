/// The SWIM and Lifeguard formulas, in one place, so that tests and benchmarks can quote them.
public enum Formulas {
    /// Retransmissions per update: `mult * ceil(log10(n + 1))` (memberlist's retransmitLimit).
    public static func retransmitLimit(multiplier: Int, members n: Int) -> Int {
        multiplier * decimalDigitsCeilLog10(max(n, 0) + 1)
    }

    /// Minimum suspicion timeout: `mult * max(1, log10(max(1, n))) * probeInterval`
    /// (SWIM's suspicion period scaled with cluster size, as memberlist computes it).
    public static func suspicionMinimum(multiplier: Int, members n: Int, probeInterval: Duration) -> Duration {
        let scale = max(1.0, log10(Double(max(1, n))))
        return probeInterval.scaled(by: Double(multiplier) * scale)
    }

    /// Lifeguard dynamic suspicion (arXiv 1707.00788, section IV-B): with `k` expected
    /// confirmations and `c` received, the timeout falls from `max` towards `min` as
    /// `max(min, max - (max - min) * log(c + 1) / log(k + 1))`.
    public static func suspicionTimeout(minimum: Duration, maximum: Duration, expected k: Int, confirmed c: Int)
        -> Duration
    {
        if k < 1 { return minimum }
        let lo = Double(minimum.nanoseconds)
        let hi = Double(maximum.nanoseconds)
        let frac = naturalLog(Double(c + 1)) / naturalLog(Double(k + 1))
        let t = max(lo, hi - (hi - lo) * frac)
        return .nanoseconds(Int64(saturating: t))
    }

    /// Expected independent confirmations of a suspicion: `suspicionMultiplier - 2`, or none
    /// in clusters too small to provide them.
    public static func expectedConfirmations(suspicionMultiplier: Int, members n: Int) -> Int {
        let k = suspicionMultiplier - 2
        return n - 2 < k ? 0 : max(0, k)
    }

    /// Push/pull interval, stretched past 32 members so that the total exchange rate stays
    /// bounded: `interval * (ceil(log2(n) - log2(32)) + 1)` (memberlist's pushPullScale).
    public static func pushPullInterval(base: Duration, members n: Int) -> Duration {
        if n <= 32 { return base }
        return base * (binaryDigitsCeilLog2(n) - 5 + 1)
    }

    /// Members a new user event or query is pushed to at once, by its origin and by each first
    /// receiver: `ceil(ln n + extra)`, at most `retransmitLimit - 1` and `n - 1`, at least 1.
    ///
    /// With every receiver pushing to f random members, a member is missed with probability
    /// about e^-f, so all n are reached with probability about exp(-n e^-f) = exp(-e^-extra)
    /// (Kermarrec, Massoulié, Ganesh 2003; Docs/benchmarks/EVENTS.md). Bounding f by the
    /// retransmit limit keeps the copies per member at Serf's: the remaining
    /// `retransmitLimit - f` go by ordinary gossip (`BroadcastQueue.enqueue(_:key:pushed:)`).
    public static func eagerFanout(members n: Int, extra: Int, retransmitLimit: Int) -> Int {
        if n <= 1 { return 0 }
        let f = Int((naturalLog(Double(n)) + Double(extra)).rounded(.up))
        return max(1, min(f, retransmitLimit - 1, n - 1))
    }

    /// Serf's default query timeout: `gossipInterval × multiplier × ceil(log10(n + 1))`
    /// (serf/query.go DefaultQueryTimeout): 3.2 s up to 9 members, 6.4 s up to 99, 9.6 s up to 999.
    public static func queryTimeout(gossipInterval: Duration, multiplier: Int, members n: Int) -> Duration {
        gossipInterval * (multiplier * max(1, decimalDigitsCeilLog10(max(n, 0) + 1)))
    }

    /// `ceil(log2(x))` for whole numbers, exactly: the bits needed to count `x - 1`. Equal to
    /// the floating-point form on every n from 33 to 2^22 (checked when libm was dropped).
    static func binaryDigitsCeilLog2(_ x: Int) -> Int {
        x <= 1 ? 0 : Int.bitWidth - (x - 1).leadingZeroBitCount
    }

    /// `ceil(log10(x))` for whole numbers, exactly.
    static func decimalDigitsCeilLog10(_ x: Int) -> Int {
        if x <= 1 { return 0 }
        var digits = 0
        var v = x - 1
        while v > 0 {
            digits += 1
            v /= 10
        }
        return digits
    }

    /// ln(x) for positive x, written here so the core needs neither Foundation nor libm and
    /// computes the same bits on every platform: x = m * 2^e with m in [1, 2), and
    /// ln m = 2 atanh((m - 1) / (m + 1)) by its series, which converges fast for s <= 1/3.
    public static func naturalLog(_ x: Double) -> Double {
        guard x > 0, x.isFinite else { return x == 0 ? -.infinity : .nan }
        let e = Double(x.exponent)
        let m = x.significand
        let s = (m - 1) / (m + 1)
        let s2 = s * s
        var term = s
        var sum = 0.0
        var k = 1.0
        for _ in 0..<20 {
            sum += term / k
            term *= s2
            k += 2
        }
        return e * 0.693_147_180_559_945_3 + 2 * sum
    }

    static func log10(_ x: Double) -> Double { naturalLog(x) / 2.302_585_092_994_046 }
}
