/// What `GET /v1/ipam` answers and `grapevine ipam` prints: per network, every allocator
/// this host knows of (its own and the rows other hosts published), as this host sees them.
public struct IPAMStatus: Codable, Sendable, Equatable {
    public var networks: [IPAMNetworkStatus]

    public init(networks: [IPAMNetworkStatus]) {
        self.networks = networks
    }
}

public struct IPAMNetworkStatus: Codable, Sendable, Equatable {
    public var vni: UInt32
    public var name: String?
    public var subnet: String
    public var ipRange: String?
    public var gateway: String?
    public var auxAddresses: [String]
    /// This host's allocator identity (`host~incarnation`).
    public var identity: String
    /// Address requests of this host waiting for a donation.
    public var pending: Int
    public var hosts: [IPAMHostStatus]

    public init(vni: UInt32, name: String?, subnet: String, ipRange: String?, gateway: String?, auxAddresses: [String],
                identity: String, pending: Int, hosts: [IPAMHostStatus]) {
        self.vni = vni
        self.name = name
        self.subnet = subnet
        self.ipRange = ipRange
        self.gateway = gateway
        self.auxAddresses = auxAddresses
        self.identity = identity
        self.pending = pending
        self.hosts = hosts
    }
}

public struct IPAMHostStatus: Codable, Sendable, Equatable {
    /// `host~incarnation`.
    public var identity: String
    public var host: String
    /// The host's current incarnation is a live member (this host's view).
    public var alive: Bool
    /// Owned ranges as first-last addresses.
    public var ranges: [String]
    public var leased: Int
    /// Addresses it may still hand out (inside the ip range, not reserved, not leased).
    public var free: UInt64
    /// Donation requests it has open, and donations it made not yet taken.
    public var requests: Int
    public var donations: Int
    public var left: Bool
    public var successor: String?

    public init(identity: String, host: String, alive: Bool, ranges: [String], leased: Int, free: UInt64, requests: Int,
                donations: Int, left: Bool, successor: String?) {
        self.identity = identity
        self.host = host
        self.alive = alive
        self.ranges = ranges
        self.leased = leased
        self.free = free
        self.requests = requests
        self.donations = donations
        self.left = left
        self.successor = successor
    }
}

/// What `POST /v1/ipam/reclaim` is asked and answers.
public struct IPAMReclaimRequest: Codable, Sendable {
    /// A host name (its incarnations that are not alive) or an identity `host~incarnation`.
    public var host: String
    public init(host: String) { self.host = host }
}

public struct IPAMReclaimReply: Codable, Sendable {
    /// `vni:identity` of every allocator whose ranges this host took.
    public var reclaimed: [String]
    public init(reclaimed: [String]) { self.reclaimed = reclaimed }
}
