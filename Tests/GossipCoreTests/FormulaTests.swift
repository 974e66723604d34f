import GossipCore
import Testing

@Suite struct FormulaTests {
    @Test(arguments: [(1, 4), (9, 4), (10, 8), (99, 8), (100, 12), (1000, 16), (10_000, 20)])
    func retransmitLimitIsMultTimesCeilLog10(n: Int, limit: Int) {
        #expect(Formulas.retransmitLimit(multiplier: 4, members: n) == limit)
    }

    @Test(arguments: [(1, 4.0), (10, 4.0), (100, 8.0), (1000, 12.0)])
    func suspicionMinimumScalesWithLog10N(n: Int, seconds: Double) {
        let d = Formulas.suspicionMinimum(multiplier: 4, members: n, probeInterval: .seconds(1))
        #expect(abs(Double(d.nanoseconds) / 1e9 - seconds) < 1e-6)
    }

    @Test func dynamicSuspicionFallsFromMaximumToMinimumWithConfirmations() {
        let lo = Duration.seconds(8)
        let hi = Duration.seconds(48)
        let t0 = Formulas.suspicionTimeout(minimum: lo, maximum: hi, expected: 2, confirmed: 0)
        let t1 = Formulas.suspicionTimeout(minimum: lo, maximum: hi, expected: 2, confirmed: 1)
        let t2 = Formulas.suspicionTimeout(minimum: lo, maximum: hi, expected: 2, confirmed: 2)
        #expect(t0 == hi)
        #expect(t1 < t0 && t1 > t2)
        // max - (max - min) * log(2) / log(3) = 48 - 40 * 0.6309 = 22.76 s
        #expect(abs(Double(t1.nanoseconds) / 1e9 - 22.7630) < 1e-3)
        #expect(t2 == lo)
        #expect(Formulas.suspicionTimeout(minimum: lo, maximum: hi, expected: 0, confirmed: 0) == lo)
    }

    @Test func expectedConfirmationsNeedEnoughMembers() {
        #expect(Formulas.expectedConfirmations(suspicionMultiplier: 4, members: 100) == 2)
        #expect(Formulas.expectedConfirmations(suspicionMultiplier: 4, members: 3) == 0)
    }

    @Test(arguments: [(32, 1), (33, 2), (64, 2), (100, 3), (1000, 6)])
    func pushPullIntervalStretchesPast32Members(n: Int, factor: Int) {
        #expect(Formulas.pushPullInterval(base: .seconds(30), members: n) == .seconds(30) * factor)
    }

    @Test(arguments: [0.001, 0.5, 1, 2, 2.718281828459045, 10, 1000, 1e12])
    func naturalLogIsAccurate(x: Double) {
        // ln(x) = log2(x) * ln 2, checked against exact powers where the answer is known.
        let y = Formulas.naturalLog(x)
        let back = Chartless.exp(y)
        #expect(abs(back - x) / x < 1e-9)
    }
}

/// exp by its series, only to check `naturalLog` against an independent function.
enum Chartless {
    static func exp(_ x: Double) -> Double {
        let k = (x / 0.6931471805599453).rounded(.down)
        let r = x - k * 0.6931471805599453
        var term = 1.0
        var sum = 1.0
        for n in 1..<30 {
            term *= r / Double(n)
            sum += term
        }
        return sum * Double(sign: .plus, exponent: Int(k), significand: 1)
    }
}
