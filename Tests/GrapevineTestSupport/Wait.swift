import Foundation

/// A wait that ran out of time: what was awaited.
public struct TimedOut: Error, CustomStringConvertible {
    public var what: String
    public init(what: String) { self.what = what }
    public var description: String { "timed out waiting until \(what)" }
}

/// Polls `condition` every 50 ms on the calling thread until it holds; throws `TimedOut` once
/// `timeout` seconds have passed and a last check still fails (a wait stalled by a busy machine
/// is judged on the state it finds, not on the clock). The bound is for a hang, not a measurement.
public func waitBlocking(_ what: String, timeout: Double, _ condition: () throws -> Bool) throws {
    let clock = ContinuousClock()
    let start = clock.now
    while true {
        if try condition() { return }
        if clock.now - start > .seconds(timeout) { throw TimedOut(what: what) }
        Thread.sleep(forTimeInterval: 0.05)
    }
}
