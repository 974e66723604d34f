import GossipCore
import NIOConcurrencyHelpers

/// The membership as callers outside the event loop see it: a copy of the member table and the
/// event subscribers, behind one lock that is taken once per batch of membership changes (rare),
/// never per packet.
final class MembershipView: Sendable {
    private struct State {
        var members: [Member] = []
        var subscribers: [UInt64: AsyncStream<MembershipEvent>.Continuation] = [:]
        var nextID: UInt64 = 0
        var finished = false
    }

    private let state = NIOLockedValueBox(State())

    var members: [Member] { state.withLockedValue { $0.members } }

    func publish(_ events: [MembershipEvent], members: [Member]) {
        state.withLockedValue { s in
            s.members = members
            for c in s.subscribers.values {
                for e in events { c.yield(e) }
            }
        }
    }

    /// A new subscriber first gets every live member as `joined`, so that it needs no separate
    /// read of `members` and cannot miss a change in between.
    func subscribe(buffer: Int) -> AsyncStream<MembershipEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: MembershipEvent.self, bufferingPolicy: .bufferingNewest(buffer))
        let id: UInt64? = state.withLockedValue { s in
            if s.finished { return nil }
            for m in s.members where m.status <= .suspect {
                continuation.yield(MembershipEvent(kind: .joined, member: m))
            }
            let id = s.nextID
            s.nextID += 1
            s.subscribers[id] = continuation
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            self?.unsubscribe(id)
        }
        return stream
    }

    private func unsubscribe(_ id: UInt64) {
        _ = state.withLockedValue { $0.subscribers.removeValue(forKey: id) }
    }

    /// Ends every subscription; finishing happens outside the lock because it runs the
    /// termination handlers, which take the lock again.
    func finish() {
        let all = state.withLockedValue { s -> [AsyncStream<MembershipEvent>.Continuation] in
            s.finished = true
            defer { s.subscribers.removeAll() }
            return Array(s.subscribers.values)
        }
        for c in all { c.finish() }
    }
}
