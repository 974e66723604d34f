#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the Docker plugin keeps across restarts of the agent, in `DATA_DIR/docker.json`,
/// replaced atomically at each change (`AtomicFile`). dockerd replays nothing to a restarted
/// plugin (no CreateNetwork, no RequestAddress), so everything it was told is here.
struct DockerState: Codable, Sendable, Equatable {
    static let format = 1

    struct Definition: Codable, Sendable, Equatable {
        var name: String
        var vni: UInt32
        var subnet: String
        var `internal`: Bool
        var deleted: Bool
        var time: UInt64
        var origin: String
        /// `NetworkDefinition.mtu`; absent in files of older agents (no MTU given).
        var mtu: UInt32? = nil
        /// `NetworkDefinition.subnet6`; absent for an IPv4-only network.
        var subnet6: String? = nil
    }

    struct Endpoint: Codable, Sendable, Equatable {
        var vni: UInt32
        var mac: String
        var ip: String
        /// The host end of the veth pair (on the network's bridge); the other end is the
        /// container's interface.
        var hostVeth: String
        var containerVeth: String
        /// dockerd's ID of the endpoint's network.
        var network: String
        /// When it was made (seconds since 1970): a young endpoint may not be listed by
        /// dockerd yet, and is never collected.
        var created: Double
    }

    var format = DockerState.format
    /// This host's dockerd's ID of each grapevine network → its VNI.
    var networks: [String: UInt32] = [:]
    /// This host's copy of every network definition it takes part in, by VNI (also kept
    /// after a deletion, as the tombstone that deletes the network everywhere).
    var definitions: [String: Definition] = [:]
    /// When this host acknowledged the CreateNetwork of each Docker network ID (seconds since
    /// 1970): a network younger than `DockerDriver.pendingAge` that dockerd does not list yet is one
    /// being created, never forgotten. Absent in files of older agents (read as long ago).
    var made: [String: Double]? = [:]
    /// Docker's EndpointID → the endpoint made for it.
    var endpoints: [String: Endpoint] = [:]
    /// Addresses handed to dockerd and not released, by VNI: address → when (seconds since
    /// 1970), so that a lease whose ReleaseAddress never came can be collected.
    var leases: [String: [String: Double]] = [:]
    /// Address blocks this host holds (confirmed by every live member), by VNI: block index
    /// (decimal) → the claim's Lamport time.
    var blocks: [String: [String: UInt64]] = [:]
    /// The Lamport clock of network definitions and block claims.
    var clock: UInt64 = 0
}

struct DockerStore: Sendable {
    let path: String
    let persistence: PersistenceQueue

    init(directory: String, persistence: PersistenceQueue) {
        path = directory + "/docker.json"
        self.persistence = persistence
    }

    func load() throws(StoreError) -> DockerState {
        guard let data = try AtomicFile.read(path) else { return DockerState() }
        let state: DockerState
        do { state = try JSONDecoder().decode(DockerState.self, from: data) } catch {
            throw StoreError("\(path): damaged (not the JSON the agent writes): \(error)")
        }
        guard state.format == DockerState.format else {
            throw StoreError("\(path): format \(state.format), this agent reads \(DockerState.format)")
        }
        return state
    }

    /// Writes the state atomically; encoding and writing run on `persistence`'s thread.
    func save(_ state: DockerState) async throws(StoreError) {
        try await persistence.write(json: state, to: path)
    }
}
