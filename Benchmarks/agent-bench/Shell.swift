import GrapevineTestSupport
import Foundation

/// Seconds on the monotonic clock, for intervals.
func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func pause(seconds: Double) {
    usleep(UInt32(seconds * 1_000_000))
}

/// Polls `condition` every `interval` seconds until it holds; throws after `timeout` seconds.
func waitUntil(_ what: String, timeout: Double, interval: Double = 0.05, _ condition: () throws -> Bool) throws {
    let deadline = now() + timeout
    while now() < deadline {
        if try condition() { return }
        pause(seconds: interval)
    }
    throw BenchError("timed out after \(Int(timeout)) s waiting until \(what)")
}
