import Synchronization

/// Fans `MonitorRecord`s out to every `/v1/monitor` reader.
///
/// Each subscriber has its own bounded buffer. `publish` never waits: when a subscriber's
/// buffer is full the record is dropped for that subscriber alone and counted, and the
/// subscriber gets one `lost` record (`count` = records dropped) ahead of the next record
/// that fits. A dropped stream (the reader went away) unsubscribes itself.
public final class MonitorHub: Sendable {
    private struct Subscriber {
        var continuation: AsyncStream<MonitorRecord>.Continuation
        /// Records dropped since the last one delivered.
        var lost: Int

        mutating func deliver(_ record: MonitorRecord) {
            if lost > 0 {
                let notice = MonitorRecord(type: "lost", time: record.time, count: lost)
                guard case .enqueued = continuation.yield(notice) else {
                    lost += 1
                    return
                }
                lost = 0
            }
            if case .dropped = continuation.yield(record) { lost += 1 }
        }
    }

    private struct State {
        var nextID = 0
        var subscribers: [Int: Subscriber] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// How many readers are subscribed now.
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Hands `record` to every subscriber without waiting for any of them.
    public func publish(_ record: MonitorRecord) {
        state.withLock { state in
            for id in state.subscribers.keys {
                state.subscribers[id]!.deliver(record)
            }
        }
    }

    /// Records published from now on. `buffer` (at least 1) is how many records may wait
    /// unread before later ones are dropped and reported as `lost`.
    public func subscribe(buffer: Int) -> AsyncStream<MonitorRecord> {
        // Oldest kept: the reader sees what it had, then `lost`, then what came after.
        let (stream, continuation) = AsyncStream.makeStream(
            of: MonitorRecord.self, bufferingPolicy: .bufferingOldest(max(buffer, 1)))
        let id = state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = Subscriber(continuation: continuation, lost: 0)
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Ends every subscriber's stream (the agent is stopping).
    public func finish() {
        let continuations = state.withLock { state in
            defer { state.subscribers.removeAll() }
            return state.subscribers.values.map(\.continuation)
        }
        for continuation in continuations { continuation.finish() }
    }
}
