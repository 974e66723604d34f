#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

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

/// The local endpoint registry on disk: `endpoints.json` in the data directory, replaced
/// whole and atomically at every change (`AtomicFile`).
struct EndpointStore: RegistryDisk {
    struct Contents: Codable, Sendable {
        var format: Int
        /// The newest claim time this host has used or seen, so claims stay Lamport-ordered
        /// across restarts even when every endpoint was removed.
        var clock: UInt64
        var endpoints: [StoredEndpoint]
    }

    static let format = 1
    let path: String
    let persistence: PersistenceQueue

    init(directory: String, persistence: PersistenceQueue) {
        path = directory + "/endpoints.json"
        self.persistence = persistence
    }

    /// The registry, or an empty one when there is no file yet.
    /// - Throws: `StoreError` when the file exists but cannot be read or parsed: the agent
    ///   refuses to start rather than publish an empty registry over what it had.
    func load() throws(StoreError) -> Contents {
        guard let data = try AtomicFile.read(path) else { return Contents(format: Self.format, clock: 0, endpoints: []) }
        do {
            let contents = try JSONDecoder().decode(Contents.self, from: data)
            guard contents.format == Self.format else { throw StoreError("\(path): unknown format \(contents.format)") }
            return contents
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("\(path) is not a valid registry: \(error)")
        }
    }

    /// Writes the registry atomically; encoding and writing run on `persistence`'s thread.
    func save(_ contents: Contents) async throws(StoreError) {
        try await persistence.write(json: contents, to: path)
    }
}
