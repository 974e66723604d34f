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
    case lost(members: [Member])
}

/// `GossipNode.events()`: the membership changes one subscriber has not read yet, bounded. It
/// ends when the node stops, or when the task iterating it is cancelled. One task reads it at a
/// time (a second iterator reads on from where the first stopped).
public typealias MembershipUpdates = Updates<MembershipUpdate>

/// A bounded sequence of what a node reports to one subscriber (`GossipNode.events()`,
/// `userEvents()`, `incomingQueries()`, a query's answers). It ends when the node stops, when
/// its source is over (a query's end), or when the task iterating it is cancelled. One task
/// reads it at a time (a second iterator reads on from where the first stopped).
public struct Updates<Element: Sendable>: AsyncSequence, Sendable {
    fileprivate let handle: SubscriptionHandle<Element>

    init(_ subscription: Subscription<Element>) { handle = SubscriptionHandle(subscription) }

    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let handle: SubscriptionHandle<Element>
        public mutating func next() async -> Element? { await handle.subscription.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: handle) }
}

/// Unsubscribes once neither the sequence nor an iterator of it is left.
private final class SubscriptionHandle<Element: Sendable>: Sendable {
    let subscription: Subscription<Element>
    init(_ subscription: Subscription<Element>) { self.subscription = subscription }
    deinit { subscription.finish() }
}

/// One subscriber's queue. Pushed to under a lock, read by the subscriber's task.
final class Subscription<Element: Sendable>: Sendable {
    private struct State {
        var buffer = CircularBuffer<Element>()
        var waiter: CheckedContinuation<Element?, Never>?
        var finished = false
    }

    private let limit: Int
    private let state = NIOLockedValueBox(State())
    private let onFinish: @Sendable () -> Void

    /// `first` is queued as it is, even beyond `limit`.
    init(limit: Int, first: [Element] = [], onFinish: @escaping @Sendable () -> Void = {}) {
        self.limit = max(1, limit)
        self.onFinish = onFinish
        if !first.isEmpty { state.withLockedValue { $0.buffer.append(contentsOf: first) } }
    }

    /// Queues the items; when they do not fit, everything unread becomes the one item `lost`
    /// makes from the number of items dropped.
    func push(_ items: some Sequence<Element>, lost: (Int) -> Element) {
        let waiter: (CheckedContinuation<Element?, Never>, Element)? = state.withLockedValue { s in
            if s.finished { return nil }
            var dropped = 0
            for e in items {
                if dropped > 0 {
                    dropped += 1
                    continue
                }
                if s.buffer.count >= limit {
                    dropped = s.buffer.count + 1
                    s.buffer.removeAll(keepingCapacity: true)
                }
                if dropped == 0 { s.buffer.append(e) }
            }
            if dropped > 0 { s.buffer.append(lost(dropped)) }
            guard let w = s.waiter, let first = s.buffer.popFirst() else { return nil }
            s.waiter = nil
            return (w, first)
        }
        if let (w, update) = waiter { w.resume(returning: update) }
    }

    func next() async -> Element? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Element?, Never>) in
                let ready: Element?? = state.withLockedValue { s in
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
        let waiter: CheckedContinuation<Element?, Never>?? = state.withLockedValue { s in
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

/// Subscribers to one kind of report (user events, incoming queries, replicated-state
/// changes), behind one lock taken once per batch, never per packet.
final class Hub<Element: Sendable>: Sendable {
    private struct State {
        var subscribers: [UInt64: Subscription<Element>] = [:]
        var nextID: UInt64 = 0
        var finished = false
    }

    private let state = NIOLockedValueBox(State())

    var isEmpty: Bool { state.withLockedValue { $0.subscribers.isEmpty } }

    /// `lost` makes what replaces the items a subscriber that fell behind missed, from their
    /// number; called under the lock, once per such subscriber, so what it builds (a fresh
    /// snapshot) it can build once and hand out again.
    func publish(_ items: [Element], lost: (Int) -> Element) {
        state.withLockedValue { s in
            for subscriber in s.subscribers.values { subscriber.push(items, lost: lost) }
        }
    }

    /// A new subscriber; it reads `first` before anything published after this call.
    func subscribe(buffer: Int, first: [Element] = []) -> Updates<Element> {
        let subscription = state.withLockedValue { s -> Subscription<Element> in
            let id = s.nextID
            s.nextID += 1
            let subscription = Subscription<Element>(limit: buffer, first: first) { [weak self] in self?.unsubscribe(id) }
            if !s.finished { s.subscribers[id] = subscription }
            return subscription
        }
        if state.withLockedValue({ $0.finished }) { subscription.finish() }
        return Updates(subscription)
    }

    private func unsubscribe(_ id: UInt64) {
        _ = state.withLockedValue { $0.subscribers.removeValue(forKey: id) }
    }

    func finish() {
        let all = state.withLockedValue { s -> [Subscription<Element>] in
            s.finished = true
            defer { s.subscribers.removeAll() }
            return Array(s.subscribers.values)
        }
        for c in all { c.finish() }
    }
}

/// The membership as callers outside the event loop see it: a copy of the member table and the
/// event subscribers, behind one lock that is taken once per batch of membership changes (rare),
/// never per packet.
final class MembershipView: Sendable {
    private struct State {
        var members: [Member] = []
        var subscribers: [UInt64: Subscription<MembershipUpdate>] = [:]
        var nextID: UInt64 = 0
        var finished = false
    }

    private let state = NIOLockedValueBox(State())

    var members: [Member] { state.withLockedValue { $0.members } }

    /// `members` are kept sorted by name: what callers read and what `.lost` carries.
    func publish(_ events: [MembershipEvent], members: [Member]) {
        let members = members.sorted { $0.name < $1.name }
        state.withLockedValue { s in
            s.members = members
            for subscriber in s.subscribers.values {
                subscriber.push(events.lazy.map { .event($0) }) { _ in .lost(members: members) }
            }
        }
    }

    /// A new subscriber first gets every live member as `joined`, so that it needs no separate
    /// read of `members` and cannot miss a change in between.
    func subscribe(buffer: Int) -> MembershipUpdates {
        let subscription = state.withLockedValue { s -> Subscription<MembershipUpdate> in
            let id = s.nextID
            s.nextID += 1
            let subscription = Subscription<MembershipUpdate>(limit: buffer) { [weak self] in self?.unsubscribe(id) }
            if s.finished { return subscription }
            let members = s.members
            let live = members.filter { $0.status <= .suspect }
            subscription.push(live.map { .event(MembershipEvent(kind: .joined, member: $0)) }) { _ in
                .lost(members: members)
            }
            s.subscribers[id] = subscription
            return subscription
        }
        if state.withLockedValue({ $0.finished }) { subscription.finish() }
        return MembershipUpdates(subscription)
    }

    private func unsubscribe(_ id: UInt64) {
        _ = state.withLockedValue { $0.subscribers.removeValue(forKey: id) }
    }

    var subscriberCount: Int { state.withLockedValue { $0.subscribers.count } }

    /// Ends every subscription; finishing happens outside the lock because it calls back into
    /// `unsubscribe`, which takes the lock again.
    func finish() {
        let all = state.withLockedValue { s -> [Subscription<MembershipUpdate>] in
            s.finished = true
            defer { s.subscribers.removeAll() }
            return Array(s.subscribers.values)
        }
        for c in all { c.finish() }
    }
}
