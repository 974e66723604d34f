import NIOCore

/// Every task the runtime has scheduled on its loop, so that stopping cancels them all and a
/// test can see that none is left.
final class Timers {
    private let loop: any EventLoop
    private var scheduled: [UInt64: Scheduled<Void>] = [:]
    private var nextKey: UInt64 = 0

    init(loop: any EventLoop) { self.loop = loop }

    var count: Int { scheduled.count }

    /// Runs `body` at `deadline` on the loop, unless cancelled first; returns the key to cancel it.
    @discardableResult
    func schedule(at deadline: NIODeadline, _ body: @escaping () -> Void) -> UInt64 {
        let key = nextKey
        nextKey &+= 1
        scheduled[key] = loop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.scheduled[key] = nil
            body()
        }
        return key
    }

    func cancel(_ key: UInt64) {
        scheduled.removeValue(forKey: key)?.cancel()
    }

    func cancelAll() {
        for t in scheduled.values { t.cancel() }
        scheduled.removeAll()
    }
}
