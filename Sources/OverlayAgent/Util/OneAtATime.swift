import Synchronization

/// Lets an owner's multi-step operations run one at a time although its actor is reentrant at
/// every `await`: each operation sees the state as the one before it left it, and undoes only
/// its own change when it fails. Waiters are let in in arrival order.
///
/// Not reentrant: an operation that calls another operation of the same gate waits forever.
final class OneAtATime: Sendable {
    private struct State {
        var busy = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Operations waiting for the one that runs.
    var waiting: Int { state.withLock { $0.waiting.count } }

    /// Runs `body` on the caller's actor once no other operation of this gate runs.
    func run<T, E: Error>(isolation: isolated (any Actor)? = #isolation,
                          _ body: () async throws(E) -> T) async throws(E) -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let enter = state.withLock { state in
                if !state.busy {
                    state.busy = true
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if enter { continuation.resume() }
        }
        defer {
            let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if state.waiting.isEmpty {
                    state.busy = false
                    return nil
                }
                return state.waiting.removeFirst()
            }
            next?.resume()
        }
        return try await body()
    }
}
