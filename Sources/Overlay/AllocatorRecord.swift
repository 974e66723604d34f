public import Addresses

/// A network's address pool as the user defined it (`docker network create --subnet
/// --ip-range --gateway --aux-address`), carried in every allocator row of the network so that
/// every host reserves the same addresses and allocates inside the same range.
public struct PoolDefinition: Hashable, Sendable {
    public var subnet: Subnet
    public var ipRange: Subnet?
    /// Never handed out; nil only until the creator knows it (Docker asks for it after the pool).
    public var gateway: IPAddress?
    /// Sorted, without repeats: reserved, never handed out.
    public var auxAddresses: [IPAddress]

    /// At most this many aux addresses (Docker sets no limit; more than a handful is unheard of).
    public static let maxAuxAddresses = 64

    public init(subnet: Subnet, ipRange: Subnet? = nil, gateway: IPAddress? = nil, auxAddresses: [IPAddress] = []) {
        self.subnet = subnet
        self.ipRange = ipRange
        self.gateway = gateway
        self.auxAddresses = Array(Set(auxAddresses)).sorted(by: Self.precedes)
    }

    /// - Throws: `AddressPoolError` as `AddressPool.init` does.
    public func pool() throws(AddressPoolError) -> AddressPool {
        try AddressPool(subnet: subnet, ipRange: ipRange, gateway: gateway, auxAddresses: auxAddresses)
    }

    static func precedes(_ a: IPAddress, _ b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): x < y
        case (.v4, .v6): true
        case (.v6, .v4): false
        case (.v6(let ah, let al), .v6(let bh, let bl)): (ah, al) < (bh, bl)
        }
    }
}

/// One host's allocator row for one network as it rides in the replicated state
/// (`OverlayRow.allocator`): the network, the pool, the incarnation of the host's allocator
/// identity, and the row itself (`row.host` is `AllocatorRecord.identity(owner:incarnation:)`).
public struct AllocatorRecord: Hashable, Sendable {
    public var vni: VNI
    /// Grows each time the host starts without its allocator state (a lost data directory), so
    /// that it never reuses an identity whose donations it could take twice.
    public var incarnation: UInt32
    public var pool: PoolDefinition
    public var row: AllocatorRow

    public init(vni: VNI, incarnation: UInt32, pool: PoolDefinition, row: AllocatorRow) {
        self.vni = vni
        self.incarnation = incarnation
        self.pool = pool
        self.row = row
    }

    /// The allocator identity of `owner`'s incarnation: `owner~incarnation`.
    public static func identity(owner: String, incarnation: UInt32) -> String { "\(owner)~\(incarnation)" }

    /// The gossip owner (host name) of an allocator identity, nil when it is not one.
    public static func owner(of identity: String) -> String? {
        guard let tilde = identity.lastIndex(of: "~"), UInt32(identity[identity.index(after: tilde)...]) != nil else { return nil }
        let owner = String(identity[..<tilde])
        return owner.isEmpty ? nil : owner
    }
}
