/// What the public API throws.
public enum GossipError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The join gave up: what happened with each seed, in the order given.
    case joinFailed(seeds: [SeedFailure])
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
        case .joinFailed(let seeds):
            seeds.isEmpty
                ? "join failed: no seed given"
                : "join failed: " + seeds.map(\.description).joined(separator: "; ")
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

/// What happened with one seed of a join that failed.
public struct SeedFailure: Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        /// Nothing listens on the seed's TCP port (or a firewall rejects the connection).
        case connectionRefused
        /// The TCP connection did not come up, or the answer did not arrive, in time.
        case timedOut
        /// The seed accepted the connection and closed it without answering: the usual sign of
        /// another key or cluster label on the seed (its log says which).
        case closedWithoutAnswer
        /// The request went out, and no answer came back before the join gave up.
        case noAnswer
        /// This node cannot send to that address (another address family, port 0...).
        case unusableAddress(String)
        /// Any other connection error, in the operating system's words.
        case connectionFailed(String)

        public var description: String {
            switch self {
            case .connectionRefused: "connection refused"
            case .timedOut: "timed out"
            case .closedWithoutAnswer: "closed the connection without answering (wrong key or cluster label?)"
            case .noAnswer: "no answer"
            case .unusableAddress(let why): "cannot send there: \(why)"
            case .connectionFailed(let why): "connection failed: \(why)"
            }
        }
    }

    public var seed: Address
    public var reason: Reason

    public init(seed: Address, reason: Reason) {
        self.seed = seed
        self.reason = reason
    }

    public var description: String { "\(seed): \(reason)" }
}
