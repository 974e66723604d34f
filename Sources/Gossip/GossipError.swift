/// What the public API throws.
public enum GossipError: Error, Sendable, Hashable, CustomStringConvertible {
    /// None of the seeds answered before the core gave up retrying.
    case joinFailed(seeds: [Address])
    /// The node is not running (never started, stopped, or left).
    case notRunning
    /// `start` was called twice; a node runs once (restart with a new node).
    case alreadyStarted
    /// Binding the UDP socket or the TCP listener failed.
    case bindFailed(address: Address, reason: String)
    /// The configuration does not describe a node that can run.
    case invalidConfiguration(String)
    /// Tags larger than every peer accepts (`WireLimits`): they would be dropped everywhere.
    case tagsTooLarge
    /// A seed knows this node's name as a live member at another address: the join is refused
    /// rather than fought over. If that was this node before a restart at a new address, join
    /// again once the cluster has declared the old one failed.
    case nameConflict(name: String, heldAt: Address)

    public var description: String {
        switch self {
        case .joinFailed(let seeds): "no seed answered: \(seeds.map(\.description).joined(separator: ", "))"
        case .notRunning: "the node is not running"
        case .alreadyStarted: "the node was already started"
        case .bindFailed(let a, let r): "cannot bind \(a): \(r)"
        case .invalidConfiguration(let r): "invalid configuration: \(r)"
        case .nameConflict(let name, let a):
            "the name \(Limits.escaped(name)) is held by a live member at \(a); choose another name, or join again once the cluster has declared that member failed"
        case .tagsTooLarge:
            "tags exceed the wire limits (\(WireLimits.maxTagCount) pairs, \(WireLimits.maxTagStringLength) bytes per string, \(WireLimits.maxTagsSize) bytes in all)"
        }
    }
}
