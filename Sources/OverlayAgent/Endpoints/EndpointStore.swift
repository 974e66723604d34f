#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Synchronization

/// One endpoint this host registered, as the registry file keeps it.
struct StoredEndpoint: Codable, Sendable, Hashable {
    var network: String
    var vni: UInt32
    var mac: String
    var ip: String?
    var ip6: String?
    var name: String?
    /// Docker's aliases of the container on this network (absent in files of before them).
    var aliases: [String]?
    /// The claim's Lamport time, kept so a restart republishes the same claim.
    var claim: UInt64
}

/// One change of the registry as `endpoints.log` keeps it, one JSON line each: an endpoint
/// stored as it now is (added or renamed), or removed.
struct RegistryRecord: Codable, Sendable, Equatable {
    struct Removed: Codable, Sendable, Equatable {
        var vni: UInt32
        var mac: String
    }

    /// The claim clock when the change was written (`Contents.clock`).
    var clock: UInt64
    var put: StoredEndpoint?
    var removed: Removed?

    static func put(_ e: StoredEndpoint, clock: UInt64) -> Self { Self(clock: clock, put: e, removed: nil) }
    static func removed(_ key: EndpointKey, clock: UInt64) -> Self {
        Self(clock: clock, put: nil, removed: Removed(vni: key.network, mac: key.mac))
    }
}

/// The local endpoint registry on disk, in the data directory: `endpoints.json`, the whole
/// registry replaced atomically (`AtomicFile`), and `endpoints.log`, the changes made since,
/// one JSON line each, appended and `fdatasync`ed before the change is acknowledged. A change
/// costs its own line instead of a rewrite of every endpoint (at 2,000 endpoints a rewrite
/// encodes about 300 KB per add). The log is folded into a new `endpoints.json` once it is
/// larger than the file was (256 KiB at least), at the first write after start, and after any
/// failed write.
///
/// Crash safety: a line cut short by a crash (no newline at its end) was never acknowledged
/// and is ignored at load. Folding writes `endpoints.json` first and empties the log after; a
/// crash between leaves lines that are all in the file already, and replaying them, in order,
/// sets each endpoint they name to what it ended as, which is what the file holds. A failed
/// append is cut off the log again; if even that fails, the next write folds.
final class EndpointStore: RegistryDisk {
    struct Contents: Codable, Sendable {
        var format: Int
        /// The newest claim time this host has used or seen, so claims stay Lamport-ordered
        /// across restarts even when every endpoint was removed.
        var clock: UInt64
        var endpoints: [StoredEndpoint]
    }

    private struct Log {
        /// The next write rewrites `endpoints.json` and empties the log: at start (a torn line
        /// may end the log) and after a failed write.
        var foldNext = true
        var bytes = 0
        var foldAt = 0
    }

    static let format = 1
    /// The log is folded into the file once it is larger than the file and than this.
    static let minimumFoldBytes = 256 << 10
    let path: String
    let logPath: String
    let persistence: PersistenceQueue
    private let log = Mutex(Log())

    init(directory: String, persistence: PersistenceQueue) {
        path = directory + "/endpoints.json"
        logPath = directory + "/endpoints.log"
        self.persistence = persistence
    }

    /// The registry (the file, then the log's changes in order), or an empty one when there
    /// is neither.
    /// - Throws: `StoreError` when a file exists but cannot be read or parsed (a complete line
    ///   of the log included): the agent refuses to start rather than publish less than it had.
    func load() throws(StoreError) -> Contents {
        var contents = Contents(format: Self.format, clock: 0, endpoints: [])
        if let data = try AtomicFile.read(path) {
            do {
                contents = try JSONDecoder().decode(Contents.self, from: data)
            } catch {
                throw StoreError("\(path) is not a valid registry: \(error)")
            }
            guard contents.format == Self.format else { throw StoreError("\(path): unknown format \(contents.format)") }
        }
        guard let data = try AtomicFile.read(logPath), !data.isEmpty else { return contents }
        var endpoints = Dictionary(contents.endpoints.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        // The part after the last newline is a line a crash cut short: never acknowledged.
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
        let decoder = JSONDecoder()
        for (number, line) in lines.enumerated() {
            let record: RegistryRecord
            do { record = try decoder.decode(RegistryRecord.self, from: Data(line)) } catch {
                throw StoreError("\(logPath) line \(number + 1) is not a valid record: \(error)")
            }
            contents.clock = max(contents.clock, record.clock)
            if let e = record.put { endpoints[e.key] = e }
            if let r = record.removed { endpoints[EndpointKey(network: r.vni, mac: r.mac)] = nil }
        }
        contents.endpoints = endpoints.values.sorted { ($0.vni, $0.mac) < ($1.vni, $1.mac) }
        return contents
    }

    /// Writes `records` (the changes since the last write that succeeded, in order) to the
    /// log, or the whole registry (`whole()`, evaluated only then) when `records` is nil or the
    /// log is due to be folded; on the persistence thread, and returns once it is on disk.
    func save(_ records: [RegistryRecord]?, whole: @escaping @Sendable () -> Contents) async throws(StoreError) {
        try await persistence.run { () throws(StoreError) in
            if let records, !self.log.withLock({ $0.foldNext || $0.bytes >= $0.foldAt }) {
                try self.append(records)
            } else {
                try self.fold(whole())
            }
        }
    }

    private func append(_ records: [RegistryRecord]) throws(StoreError) {
        var bytes = Data()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for record in records {
            do { bytes.append(try encoder.encode(record)) } catch {
                throw StoreError("cannot encode a change of \(logPath): \(error)")
            }
            bytes.append(UInt8(ascii: "\n"))
        }
        let before = log.withLock { $0.bytes }
        do {
            try AtomicFile.append(bytes, to: logPath, truncatingTo: before)
            log.withLock { $0.bytes += bytes.count }
        } catch {
            log.withLock { $0.foldNext = true }
            throw error
        }
    }

    private func fold(_ contents: Contents) throws(StoreError) {
        log.withLock { $0.foldNext = true }
        let data: Data
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            data = try encoder.encode(contents)
        } catch {
            throw StoreError("cannot encode \(path): \(error)")
        }
        try AtomicFile.write(data, to: path)
        // Lines left by a failure here are in the file already (see the type's comment).
        try AtomicFile.empty(logPath)
        log.withLock { $0 = Log(foldNext: false, bytes: 0, foldAt: max(Self.minimumFoldBytes, data.count)) }
    }
}
