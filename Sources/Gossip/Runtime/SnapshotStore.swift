import GossipCore
import Logging
import NIOCore
import NIOPosix

/// The snapshot file: coalesces a burst of changes into one write, writes off the event loop,
/// chains writes so the newest lands last, and warns about a failing write once, not on every
/// attempt. The format is `Snapshot`'s.
final class SnapshotStore {
    let path: String
    private let interval: Duration
    private let loop: any EventLoop
    private let logger: Logger
    private let onWritten: (@Sendable (Int) -> Void)?
    private var scheduled = false
    private var lastWrite: EventLoopFuture<Void>?
    private var failing = false
    /// Snapshots written so far (`NodeStatistics.snapshotsWritten`).
    private(set) var written = 0

    init(path: String, interval: Duration, loop: any EventLoop, logger: Logger, onWritten: (@Sendable (Int) -> Void)?) {
        self.path = path
        self.onWritten = onWritten
        self.interval = interval
        self.loop = loop
        self.logger = logger
    }

    /// The snapshot left by the last run; nil when there is none or it cannot be read (logged).
    func load() -> Snapshot? {
        do { return try Snapshot.load(from: path) } catch {
            logger.warning("cannot read snapshot, starting without it", metadata: ["gossip.error": "\(error)"])
            return nil
        }
    }

    /// Asks for a write within `interval`; a write already planned covers this change too.
    /// `timers` runs the delay (and cancels it on stop); `take` reads the state when it is due.
    func changed(timers: Timers, _ take: @escaping () -> Snapshot?) {
        guard !scheduled else { return }
        scheduled = true
        timers.schedule(at: .now() + TimeAmount(interval)) {
            self.scheduled = false
            if let snapshot = take() { self.write(snapshot) }
        }
    }

    /// Writes on NIO's thread pool: an fsync can take tens of milliseconds, long enough to make
    /// the loop miss probe timeouts.
    @discardableResult
    func write(_ snapshot: Snapshot) -> EventLoopFuture<Void> {
        let path = self.path
        let loop = self.loop
        let previous = lastWrite ?? loop.makeSucceededVoidFuture()
        let next = previous.flatMap {
            NIOThreadPool.singleton.runIfActive(eventLoop: loop) { try snapshot.save(to: path) }
        }
        let members = snapshot.members.count
        let done = next.assumeIsolated().map { self.wrote(nil, members: members) }.recover { self.wrote($0, members: members) }
            .nonisolated()
        lastWrite = done
        return done
    }

    private func wrote(_ error: (any Error)?, members: Int) {
        if let error {
            if !failing { logger.warning("cannot write snapshot", metadata: ["gossip.error": "\(error)"]) }
            failing = true
        } else {
            written += 1
            if failing { logger.info("snapshot written again") }
            failing = false
            onWritten?(members)
        }
    }
}
