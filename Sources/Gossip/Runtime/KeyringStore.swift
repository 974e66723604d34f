import GossipWire
import Logging
import NIOCore
import NIOPosix

/// `GossipConfiguration.keyringPath`: the keyring as it is now, one base64 key per line, primary
/// first (the format of Serf's `keyring_file` in lines rather than JSON). Read at start, where
/// it wins over `GossipConfiguration.keyring`; rewritten after every change, atomically and on
/// NIO's thread pool, chained so that the newest keyring lands last.
final class KeyringStore {
    static let maxFileSize = 64 << 10
    let path: String
    private let loop: any EventLoop
    private let logger: Logger
    private var lastWrite: EventLoopFuture<Void>?
    private var failing = false
    /// Keyrings written so far (`NodeStatistics.keyringsWritten`).
    private(set) var written = 0

    init(path: String, loop: any EventLoop, logger: Logger) {
        self.path = path
        self.loop = loop
        self.logger = logger
    }

    static func encode(_ keyring: Keyring) -> [UInt8] {
        Array(keyring.keys.map { $0.base64 + "\n" }.joined().utf8)
    }

    /// The keyring in the file; nil when there is no file. Throws for a file that cannot be
    /// read or holds anything but 1 to `Keyring.maxKeys` keys.
    static func load(from path: String) throws(StoredFileError) -> Keyring? {
        guard let bytes = try StoredFile.contents(of: path, limit: maxFileSize) else { return nil }
        var keys: [SecretKey] = []
        for (number, line) in String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated() where !line.isEmpty
        {
            do throws(KeyringError) { keys.append(try SecretKey(base64: line)) } catch {
                throw StoredFileError(
                    path: path, operation: "read", errno: 0,
                    detail: "line \(number + 1) is not a base64 key of \(SecretKey.size) bytes")
            }
        }
        guard let primary = keys.first, keys.count <= Keyring.maxKeys else {
            throw StoredFileError(
                path: path, operation: "read", errno: 0, detail: "holds \(keys.count) keys; 1 to \(Keyring.maxKeys) expected")
        }
        return Keyring(primary: primary, others: Array(keys.dropFirst()))
    }

    /// Writes `keyring` after the writes asked for before it; the future completes once it is
    /// on disk or failed (a failure is logged, not thrown: the node runs on with it in memory).
    @discardableResult
    func write(_ keyring: Keyring) -> EventLoopFuture<Void> {
        let path = self.path
        let loop = self.loop
        let bytes = Self.encode(keyring)
        let previous = lastWrite ?? loop.makeSucceededVoidFuture()
        let next = previous.flatMap {
            NIOThreadPool.singleton.runIfActive(eventLoop: loop) { try StoredFile.replace(path, with: bytes) }
        }
        let done = next.assumeIsolated().map { self.wrote(nil) }.recover { self.wrote($0) }.nonisolated()
        lastWrite = done
        return done
    }

    /// Completes once every write asked for so far is done.
    var settled: EventLoopFuture<Void> { lastWrite ?? loop.makeSucceededVoidFuture() }

    private func wrote(_ error: (any Error)?) {
        if let error {
            // An error, not a warning: a restart would come back with a keyring the cluster
            // may have rotated past, and could not rejoin.
            logger.error(
                "cannot keep the keyring; a restart would start with the one last written",
                metadata: ["gossip.error": "\(error)"])
            failing = true
        } else {
            written += 1
            if failing { logger.info("keyring written again") }
            failing = false
        }
    }
}
