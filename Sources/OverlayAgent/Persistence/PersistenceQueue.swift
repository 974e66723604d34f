import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The one thread the agent's files are written on. `AtomicFile.write` blocks for two `fsync`s;
/// on the gossip event loop that delays probes (false suspicions), and on Swift's cooperative
/// pool (two threads on a small host) it stalls the API, the plugin and gossip's callers.
/// Writes run one at a time in the order they were submitted, so the last write of a file is
/// the one that stays.
final class PersistenceQueue: Sendable {
    private let queue = DispatchQueue(label: "grapevine.persistence")

    /// Encodes `value` as sorted, indented JSON and writes it to `path` atomically, both on the
    /// persistence thread: encoding thousands of entries is milliseconds the caller's actor
    /// and the cooperative pool should not spend.
    /// - Throws: `StoreError` for a value that does not encode or a write that fails.
    func write<T: Encodable & Sendable>(json value: T, to path: String) async throws(StoreError) {
        let result: Result<Void, StoreError> = await withCheckedContinuation { continuation in
            queue.async {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                do {
                    let data = try encoder.encode(value)
                    do throws(StoreError) {
                        try AtomicFile.write(data, to: path)
                        continuation.resume(returning: .success(()))
                    } catch {
                        continuation.resume(returning: .failure(error))
                    }
                } catch {
                    continuation.resume(returning: .failure(StoreError("cannot encode \(path): \(error)")))
                }
            }
        }
        try result.get()
    }

    /// Runs `body` (file work that blocks: writes, `fsync`) on the persistence thread, after
    /// the writes submitted before it, and returns what it returned.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws(StoreError) -> T) async throws(StoreError) -> T {
        let result: Result<T, StoreError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(StoreError) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}
