import Foundation

/// One change timed and counted the way the benchmarks here do it: an idle window that gives
/// the cluster's idle byte rate, then the change (a command), the members' lines, and a tail
/// until the change's window is over, at least `window` s from the command and `quiet` s past
/// the last member.
struct ChangeWindow {
    var window: Double
    var timeout: Double
    var quiet: Double

    struct Outcome {
        var idleStart: PortCounters.Reading
        var idleEnd: PortCounters.Reading
        var after: PortCounters.Reading
        /// Where the output stood at the command, and when it was written (monotonic ns).
        var mark: [Int]
        var fired: UInt64
        /// Each source that printed a matching line within the timeout, and when.
        var seen: [Int: UInt64]
        /// When the last member needed had it; nil when one had not within the timeout.
        var last: UInt64?
    }

    /// `last` tells from what was seen when the change was everywhere it must be (nil: not yet).
    func measure(
        counters: PortCounters, counter: String, tap: LineTap, sources: Range<Int>, fire: () throws -> Void,
        matches: (Int, String) -> Bool, last: ([Int: UInt64]) -> UInt64?
    ) throws -> Outcome {
        let nanosPerSecond = 1e9
        let idleStart = try counters.read(counter)
        usleep(UInt32(window * 1e6))
        let idleEnd = try counters.read(counter)

        let mark = tap.mark()
        let fired = monotonicNanos()
        try fire()
        let seen = tap.firstMatches(
            in: sources, after: mark, want: sources.count, deadline: fired + UInt64(timeout * nanosPerSecond), matches)
        let done = last(seen)
        let end = max(fired + UInt64(window * nanosPerSecond), (done ?? monotonicNanos()) + UInt64(quiet * nanosPerSecond))
        let now = monotonicNanos()
        if end > now { usleep(UInt32((end - now) / 1000)) }
        let after = try counters.read(counter)
        return Outcome(idleStart: idleStart, idleEnd: idleEnd, after: after, mark: mark, fired: fired, seen: seen, last: done)
    }
}
