import GrapevineTestSupport
@testable import OverlayAgent
import Testing

/// Exponential, capped, full jitter.
@Suite struct BackoffTests {
    @Test(arguments: [1, 2, 3, 42] as [UInt64])
    func waitsStayUnderACeilingThatDoublesToTheCap(seed: UInt64) {
        var random = SplitMix(seed: seed)
        var backoff = Backoff(base: .milliseconds(100), cap: .seconds(3))
        var ceilings: [Duration] = []
        for _ in 0..<12 {
            let ceiling = backoff.ceiling
            ceilings.append(ceiling)
            let wait = backoff.next(using: &random)
            #expect(wait >= .zero && wait <= ceiling)
        }
        #expect(Array(ceilings.prefix(6)) == [.milliseconds(100), .milliseconds(200), .milliseconds(400),
                                              .milliseconds(800), .milliseconds(1600), .seconds(3)])
        #expect(ceilings.suffix(6).allSatisfy { $0 == .seconds(3) })
        backoff.reset()
        #expect(backoff.ceiling == .milliseconds(100))
    }

    /// Full jitter: the waits of one step are spread over the whole range, not bunched.
    @Test(arguments: [7, 8] as [UInt64])
    func jitterSpreadsOverTheWholeRange(seed: UInt64) {
        var random = SplitMix(seed: seed)
        var low = 0, high = 0
        for _ in 0..<1000 {
            var backoff = Backoff(base: .seconds(1), cap: .seconds(1))
            let wait = backoff.next(using: &random)
            if wait < .milliseconds(250) { low += 1 }
            if wait > .milliseconds(750) { high += 1 }
        }
        #expect(low > 150 && high > 150)
    }
}
