#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Overlay

/// `ipam.json` in the data directory: this host's allocator incarnation and its allocator row
/// of every network, each as the bytes it is published with (`OverlayRow.allocator`'s value).
/// Written whole, atomically, before any row it holds is published: what the allocator's
/// invariant depends on (owned spans, leases, donations made and taken) survives a crash.
struct AllocatorFile: Codable, Sendable, Equatable {
    var incarnation: UInt32
    /// `PoolKey.tag` (the VNI in decimal, with `/6` for a network's IPv6 pool) → the row's value.
    var networks: [String: Data] = [:]
}

/// Where the allocator owner keeps its file: `AllocatorStore` in the agent, a store that
/// fails on demand in tests. A save that throws left the previous contents in place.
protocol AllocatorDisk: Sendable {
    func load() throws(StoreError) -> AllocatorFile?
    func save(_ file: AllocatorFile) async throws(StoreError)
}

struct AllocatorStore: AllocatorDisk {
    let path: String
    let persistence: PersistenceQueue

    init(directory: String, persistence: PersistenceQueue) {
        self.path = directory + "/ipam.json"
        self.persistence = persistence
    }

    /// nil when there is no file: a new host, or one that lost its data directory.
    func load() throws(StoreError) -> AllocatorFile? {
        guard let data = try AtomicFile.read(path) else { return nil }
        do { return try JSONDecoder().decode(AllocatorFile.self, from: data) } catch {
            throw StoreError("\(path) is not an allocator file: \(error)")
        }
    }

    func save(_ file: AllocatorFile) async throws(StoreError) {
        try await persistence.write(json: file, to: path)
    }
}
