public import Addresses

/// A host of the overlay: one member of the cluster, reached through its VTEP.
public struct Host: Hashable, Sendable {
    /// The cluster member's name: the owner of its endpoints.
    public var name: String
    /// The underlay address VXLAN packets for this host's endpoints go to (IPv4 or IPv6).
    public var vtep: IPAddress
    /// The networks the host takes part in, whether or not it has endpoints in them yet.
    public var networks: Set<VNI>

    public init(name: String, vtep: IPAddress, networks: Set<VNI>) {
        self.name = name
        self.vtep = vtep
        self.networks = networks
    }
}

/// Who claimed an endpoint and when, in Lamport time. Claims are totally ordered: the later
/// time wins, and equal times are broken by the owner's name (bytewise UTF-8, larger wins), so
/// every host that holds the same rows picks the same winner with no coordination.
///
/// Lamport time (Lamport 1978) makes "later" mean "made after seeing": a host that claims an
/// address after it has seen another host's claim stamps a larger time, so a container that
/// moves, or an address handed out again, converges to the newest claim everywhere.
public struct Claim: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var time: UInt64
    public var owner: String

    public init(time: UInt64, owner: String) {
        self.time = time
        self.owner = owner
    }

    public static func < (a: Claim, b: Claim) -> Bool {
        if a.time != b.time { return a.time < b.time }
        return a.owner.utf8.lexicographicallyPrecedes(b.owner.utf8)
    }

    public var description: String { "\(owner)@\(time)" }
}

/// A container's (or VM's) interface on an overlay network, owned by the host it runs on.
public struct Endpoint: Hashable, Sendable {
    public var network: VNI
    public var mac: MACAddress
    public var ipv4: IPAddress?
    public var ipv6: IPAddress?
    /// A name for people (the container's), and the name the overlay's DNS answers for it;
    /// no part of any forwarding rule.
    public var name: String?
    /// More names the DNS answers for (Docker's `--network-alias`): sorted, without repeats,
    /// at most `OverlayRow.maxAliases`, each a valid name.
    public var aliases: [String]
    public var claim: Claim

    public init(network: VNI, mac: MACAddress, ipv4: IPAddress? = nil, ipv6: IPAddress? = nil, name: String? = nil,
                aliases: [String] = [], claim: Claim) {
        self.network = network
        self.mac = mac
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.name = name
        self.aliases = aliases
        self.claim = claim
    }

    public var owner: String { claim.owner }

    /// The endpoint's addresses, IPv4 first.
    public var ips: [IPAddress] { [ipv4, ipv6].compactMap { $0 } }
}

extension Endpoint {
    /// The order in which claims win: the newer claim, and between two claims of one owner at
    /// one time (two endpoints of one host giving the same IP), the larger MAC.
    public func supersedes(_ other: Endpoint) -> Bool {
        claim != other.claim ? claim > other.claim : mac > other.mac
    }
}

/// Everything one host knows about the overlay: every host it has rows from, whether the
/// cluster holds it live, every endpoint, every host's copy of each network's definition and
/// every claim on a block of addresses. Built from the replicated rows (`OverlayRow`).
public struct Replica: Sendable, Equatable {
    public struct HostState: Sendable, Equatable {
        public var host: Host
        /// False while the cluster has the host failed: its rows are kept but not programmed.
        public var live: Bool

        public init(host: Host, live: Bool) {
            self.host = host
            self.live = live
        }
    }

    /// An endpoint row's identity: one owner has at most one endpoint per MAC per network.
    public struct EndpointID: Hashable, Sendable {
        public var owner: String
        public var network: VNI
        public var mac: MACAddress
    }

    public var hosts: [String: HostState] = [:]
    public private(set) var endpoints: [EndpointID: Endpoint] = [:]
    /// Network definitions: per VNI, each owner's copy (`definition(of:)` picks the one that
    /// takes effect).
    public private(set) var networks: [VNI: [String: NetworkDefinition]] = [:]
    /// Address-block claims: per block, each claiming owner's Lamport time (`blockHolder`
    /// picks the holder).
    public private(set) var blocks: [BlockID: [String: UInt64]] = [:]

    public init() {}

    public init(hosts: [HostState], endpoints: [Endpoint]) {
        for h in hosts { self.hosts[h.host.name] = h }
        for e in endpoints { insert(e) }
    }

    /// Adds an endpoint, replacing the one its owner had for the same MAC in the same network.
    public mutating func insert(_ e: Endpoint) {
        endpoints[EndpointID(owner: e.owner, network: e.network, mac: e.mac)] = e
    }

    public mutating func removeEndpoint(owner: String, network: VNI, mac: MACAddress) {
        endpoints[EndpointID(owner: owner, network: network, mac: mac)] = nil
    }

    /// Puts `owner`'s copy of a network's definition, replacing its previous copy of that VNI.
    mutating func insert(_ definition: NetworkDefinition, owner: String) {
        networks[definition.vni, default: [:]][owner] = definition
    }

    mutating func removeNetwork(owner: String, vni: VNI) {
        networks[vni]?[owner] = nil
        // No empty entries, so that replicas holding the same rows are equal.
        if networks[vni]?.isEmpty == true { networks[vni] = nil }
    }

    mutating func insert(_ block: BlockClaim) {
        blocks[BlockID(vni: block.vni, index: block.index), default: [:]][block.owner] = block.claim.time
    }

    mutating func removeBlock(owner: String, vni: VNI, index: UInt32) {
        let id = BlockID(vni: vni, index: index)
        blocks[id]?[owner] = nil
        if blocks[id]?.isEmpty == true { blocks[id] = nil }
    }
}

extension Replica {
    /// Adds one decoded row of `owner` (each row replaces the owner's previous one under the
    /// same key). `live` is the owner's liveness in the cluster, from the membership; only host
    /// rows keep it (network copies and block claims count whether or not their owner is live).
    public mutating func add(_ row: OverlayRow, owner: String, live: Bool) {
        switch row {
        case .host(let vtep, let networks):
            hosts[owner] = HostState(host: Host(name: owner, vtep: vtep, networks: networks), live: live)
        case .endpoint(let e):
            insert(e)
        case .network(let d):
            insert(d, owner: owner)
        case .block(let b):
            insert(b)
        case .allocator:
            // The agent's allocator owner keeps these (`AddressAllocator.view`); nothing the
            // kernel or the names need.
            break
        }
    }
}
