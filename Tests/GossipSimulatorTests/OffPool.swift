import Foundation
import Testing

/// Expectations checked on a thread outside a test's task, reported by `offPool` once the
/// body returns (Swift Testing records issues only from inside the test's task).
final class Checks: @unchecked Sendable {
    private(set) var failures: [(String, SourceLocation)] = []

    func expect(_ condition: Bool, _ comment: @autoclosure () -> String = "", sourceLocation: SourceLocation = #_sourceLocation) {
        if !condition { failures.append((comment(), sourceLocation)) }
    }
}

/// A failure that ends a simulation early.
struct SimulationFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs a simulation of many virtual minutes on a thread of its own and reports its checks.
/// On Swift's concurrency pool (two threads on a two-core machine) such a run would starve the
/// runtime tests running beside it, whose liveness bounds then expire.
func offPool(_ body: @escaping @Sendable (Checks) throws -> Void) async throws {
    let checks = Checks()
    try await onOwnThread { try body(checks) }
    for (comment, location) in checks.failures {
        Issue.record(Comment(rawValue: comment.isEmpty ? "expectation failed" : comment), sourceLocation: location)
    }
}

/// Runs `body` on a new thread, off Swift's concurrency pool, and returns what it returns.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
