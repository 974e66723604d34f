#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// When the agent started, on both clocks: the monitor stream's times (wall-clock seconds that
/// never step back, since they count from the start on the monotonic clock) and the uptime.
struct AgentClock: Sendable {
    let started = ContinuousClock.now
    let startedWall = Date()

    /// Seconds since 1970, for monitor records.
    func now() -> Double { Double(startedWall.timeIntervalSince1970) + (ContinuousClock.now - started).seconds }

    var uptime: Duration { ContinuousClock.now - started }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
