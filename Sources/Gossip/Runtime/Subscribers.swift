public import GossipCore
import NIOConcurrencyHelpers
import NIOCore

/// One element of `GossipNode.events()`.
public enum MembershipUpdate: Sendable, Hashable {
    /// A membership change, in order.
    case event(MembershipEvent)
    /// The subscriber fell `buffer` elements behind, and the changes it had not read yet were
    /// dropped. `members` is the whole membership at the moment of the drop (as `members`
    /// returns it), which already includes every dropped change; events follow on from it.
    case eventsLost(members: [Member])
}

/// `GossipNode.events()`: the membership changes one subscriber has not read yet, bounded. It
/// ends when the node stops, or when the task iterating it is cancelled. One task reads it at a
/// time (a second iterator reads on from where the first stopped).
public struct MembershipUpdates: AsyncSequence, Sendable {
    public typealias Element = MembershipUpdate

    fileprivate let handle: SubscriptionHandle

    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let handle: SubscriptionHandle
        public mutating func next() async -> MembershipUpdate? { await handle.subscription.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: handle) }
}

/// Unsubscribes once neither the sequence nor an iterator of it is left.
private final class SubscriptionHandle: Sendable {
    let subscription: Subscription
    init(_ subscription: Subscription) { self.subscription = subscription }
    deinit { subscription.finish() }
}

/// One subscriber's queue. Pushed to under the view's lock, read by the subscriber's task.
final class Subscription: Sendable {
    private struct State {
        var buffer = CircularBuffer<MembershipUpdate>()
        var waiter: CheckedContinuation<MembershipUpdate?, Never>?
        var finished = false
    }

    private let limit: Int
    private let state = NIOLockedValueBox(State())
    private let onFinish: @Sendable () -> Void

    init(limit: Int, onFinish: @escaping @Sendable () -> Void) {
        self.limit = max(1, limit)
        self.onFinish = onFinish
    }

    /// Queues the changes; when they do not fit, everything unread becomes one `eventsLost`.
    func push(_ events: [MembershipEvent], members: [Member]) {
        let waiter: (CheckedContinuation<MembershipUpdate?, Never>, MembershipUpdate)? = state.withLockedValue { s in
            if s.finished { return nil }
            for e in events {
                if s.buffer.count >= limit {
                    s.buffer.removeAll(keepingCapacity: true)
                    // `members` is the state after the whole batch: the rest of it is included.
                    s.buffer.append(.eventsLost(members: members))
                    break
                }
                s.buffer.append(.event(e))
            }
            guard let w = s.waiter, let first = s.buffer.popFirst() else { return nil }
            s.waiter = nil
            return (w, first)
        }
        if let (w, update) = waiter { w.resume(returning: update) }
    }

    func next() async -> MembershipUpdate? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<MembershipUpdate?, Never>) in
                let ready: MembershipUpdate?? = state.withLockedValue { s in
                    if let first = s.buffer.popFirst() { return .some(first) }
                    // One reader at a time, as with AsyncStream; a second concurrent one ends at once.
                    if s.finished || s.waiter != nil { return .some(nil) }
                    s.waiter = c
                    return nil
                }
                if let ready { c.resume(returning: ready) }
            }
        } onCancel: {
            finish()
        }
    }

    /// Ends the sequence once what is queued has been read... or at once, for a cancelled task.
    func finish() {
        let waiter: CheckedContinuation<MembershipUpdate?, Never>?? = state.withLockedValue { s in
            if s.finished { return .none }
            s.finished = true
            defer { s.waiter = nil }
            return .some(s.waiter)
        }
        guard case .some(let w) = waiter else { return }
        w?.resume(returning: nil)
        onFinish()
    }
}

/// The membership as callers outside the event loop see it: a copy of the member table and the
/// event subscribers, behind one lock that is taken once per batch of membership changes (rare),
/// never per packet.
final class MembershipView: Sendable {
    private struct State {
        var members: [Member] = []
        var subscribers: [UInt64: Subscription] = [:]
        var nextID: UInt64 = 0
        var finished = false
    }

    private let state = NIOLockedValueBox(State())

    var members: [Member] { state.withLockedValue { $0.members } }

    func publish(_ events: [MembershipEvent], members: [Member]) {
        state.withLockedValue { s in
            s.members = members
            for subscriber in s.subscribers.values { subscriber.push(events, members: members) }
        }
    }

    /// A new subscriber first gets every live member as `joined`, so that it needs no separate
    /// read of `members` and cannot miss a change in between.
    func subscribe(buffer: Int) -> MembershipUpdates {
        let subscription = state.withLockedValue { s -> Subscription in
            let id = s.nextID
            s.nextID += 1
            let subscription = Subscription(limit: buffer) { [weak self] in self?.unsubscribe(id) }
            if s.finished { return subscription }
            let live = s.members.filter { $0.status <= .suspect }
            subscription.push(live.map { MembershipEvent(kind: .joined, member: $0) }, members: s.members)
            s.subscribers[id] = subscription
            return subscription
        }
        if state.withLockedValue({ $0.finished }) { subscription.finish() }
        return MembershipUpdates(handle: SubscriptionHandle(subscription))
    }

    private func unsubscribe(_ id: UInt64) {
        _ = state.withLockedValue { $0.subscribers.removeValue(forKey: id) }
    }

    var subscriberCount: Int { state.withLockedValue { $0.subscribers.count } }

    /// Ends every subscription; finishing happens outside the lock because it calls back into
    /// `unsubscribe`, which takes the lock again.
    func finish() {
        let all = state.withLockedValue { s -> [Subscription] in
            s.finished = true
            defer { s.subscribers.removeAll() }
            return Array(s.subscribers.values)
        }
        for c in all { c.finish() }
    }
}
