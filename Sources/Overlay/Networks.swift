public import Addresses

/// A network as Docker created it (`docker network create -d grapevine --subnet ... NAME`),
/// replicated so that every host can serve it with no central store.
///
/// Rows are node-owned and vanish when their owner leaves, so a network must not die with the
/// host it was created on: every host that has the network writes its own copy (`OverlayRow`
/// kind 3, key `03` + VNI), and a deletion is a copy too, with `deleted` set, that replaces the
/// live ones (a host that deleted its row instead would let an older live copy win again once
/// the deleting host left). The effective definition of a VNI is the copy with the largest
/// `(time, origin)` (`supersedes`), deleted or not (`Replica.definition(of:)`).
public struct NetworkDefinition: Hashable, Sendable {
    /// Docker's network name: 1...255 bytes of UTF-8 without control characters, compared
    /// bytewise (as Docker compares names).
    public var name: String
    public var vni: VNI
    /// The IPv4 subnet addresses are handed out from: prefix `prefixRange`.
    public var subnet: Subnet
    /// The IPv6 subnet of a dual-stack network, prefix `prefixRange6`: its own address pool
    /// and allocator, beside the IPv4 one (Docs/OVERLAY.md, "IPv6 pools").
    public var subnet6: Subnet?
    /// Docker's `--internal`: no route off the overlay.
    public var `internal`: Bool
    /// A tombstone: "this network was removed" at `time` by `origin`.
    public var deleted: Bool
    /// The MTU the user gave the network (Docker's `-o com.docker.network.driver.mtu`), the
    /// same on every host; nil: each host's overlay MTU from its underlay.
    public var mtu: UInt32?
    /// The Lamport time of the create or the delete this copy records.
    public var time: UInt64
    /// The host where the user created or deleted the network: 1...255 bytes of UTF-8 without
    /// control characters. Not the copy's owner (the row's owner, which writes the copy).
    public var origin: String

    /// IPv4 prefixes a network's subnet may have (why: `OverlayRow.validate`).
    public static let prefixRange = 8...29
    /// IPv6 prefixes a network's IPv6 subnet may have.
    public static let prefixRange6 = 48...120
    /// MTUs a network may be given: 576 (the IPv4 datagram every host takes) to 65,535.
    public static let mtuRange: ClosedRange<UInt32> = 576...65_535

    public init(name: String, vni: VNI, subnet: Subnet, subnet6: Subnet? = nil, internal: Bool = false,
                deleted: Bool = false, mtu: UInt32? = nil, time: UInt64, origin: String) {
        self.name = name
        self.vni = vni
        self.subnet = subnet
        self.subnet6 = subnet6
        self.internal = `internal`
        self.deleted = deleted
        self.mtu = mtu
        self.time = time
        self.origin = origin
    }

    /// `(time, origin)` as a `Claim`: ordered by time, then origin bytewise.
    public var stamp: Claim { Claim(time: time, owner: origin) }

    /// Which of two copies of one VNI's definition takes effect: the larger stamp. Two copies
    /// with one stamp are copies of one create or delete and so equal, unless a faulty host
    /// wrote one; then the larger encoding wins, so every host still picks the same copy.
    public func supersedes(_ other: NetworkDefinition) -> Bool {
        if stamp != other.stamp { return stamp > other.stamp }
        return OverlayRow.network(other).encodedValue().lexicographicallyPrecedes(OverlayRow.network(self).encodedValue())
    }

    /// Same network: name (bytewise), VNI, subnets, the internal flag and the MTU all equal; the
    /// stamp and the tombstone flag aside. Another host's copy of a live definition is the same
    /// network, not a conflict.
    public func isSameNetwork(as other: NetworkDefinition) -> Bool {
        vni == other.vni && name.utf8.elementsEqual(other.name.utf8) && subnet == other.subnet
            && subnet6 == other.subnet6 && self.internal == other.internal && mtu == other.mtu
    }
}

/// Why a new network definition cannot be made, with the live definition in its way
/// (`Replica.conflict(with:)`).
public enum NetworkConflict: Hashable, Sendable, CustomStringConvertible {
    /// The VNI carries another live network (another name, subnet or internal flag).
    case vniInUse(NetworkDefinition)
    /// The subnet, or the IPv6 subnet, overlaps a live network's of another VNI: an address
    /// would be in two networks.
    case subnetOverlaps(NetworkDefinition)
    /// The name is a live network's on another VNI: Docker finds networks by name.
    case nameInUse(NetworkDefinition)

    /// The live definition in the way.
    public var existing: NetworkDefinition {
        switch self {
        case .vniInUse(let d), .subnetOverlaps(let d), .nameInUse(let d): d
        }
    }

    /// A short stable name for counters and API errors.
    public var reason: String {
        switch self {
        case .vniInUse: "vni_in_use"
        case .subnetOverlaps: "subnet_overlaps"
        case .nameInUse: "name_in_use"
        }
    }

    public var description: String {
        let d = existing
        let what = "network \(d.name.debugDescription) (VNI \(d.vni), \(d.subnet))"
        return switch self {
        case .vniInUse: "VNI \(d.vni) is in use by \(what)"
        case .subnetOverlaps: "the subnet overlaps that of \(what)"
        case .nameInUse: "the name is in use by \(what)"
        }
    }
}

/// One host's claim on one block of a network's IPv4 addresses (`AddressBlocks`), so that
/// hosts hand out addresses with no central store: a host hands out addresses only from the
/// blocks it holds. The owner is the claiming host (the row's owner).
///
/// The earliest claim holds the block (`Replica.blockHolder`): the opposite of endpoint claims,
/// because addresses may already have been handed out from it. Two claims on one block are
/// made only concurrently (a host that has seen a claim does not claim the block, and would
/// stamp a later time if it did), so the earlier one is the one more likely in use.
public struct BlockClaim: Hashable, Sendable {
    public var vni: VNI
    /// The block's index in the network's subnet (`AddressBlocks.index(of:)`); any `u32` is
    /// carried, and one past the subnet's blocks is held by nobody's addresses.
    public var index: UInt32
    public var claim: Claim

    public init(vni: VNI, index: UInt32, claim: Claim) {
        self.vni = vni
        self.index = index
        self.claim = claim
    }

    public var owner: String { claim.owner }
}

extension Replica {
    /// A block of one network's addresses.
    public struct BlockID: Hashable, Sendable {
        public var vni: VNI
        public var index: UInt32

        public init(vni: VNI, index: UInt32) {
            self.vni = vni
            self.index = index
        }
    }

    /// The definition of `vni` that takes effect: the copy that supersedes every other
    /// (`NetworkDefinition.supersedes`), possibly a tombstone; nil when no host has a copy.
    /// Copies of owners the cluster holds failed count too: a network outlives a host's failure.
    public func definition(of vni: VNI) -> NetworkDefinition? {
        guard let copies = networks[vni] else { return nil }
        var winner: NetworkDefinition?
        for copy in copies.values where winner.map({ copy.supersedes($0) }) ?? true { winner = copy }
        return winner
    }

    /// The definition of each VNI that has one (`definition(of:)`), tombstones included.
    public func definitions() -> [VNI: NetworkDefinition] {
        var out: [VNI: NetworkDefinition] = [:]
        for vni in networks.keys { out[vni] = definition(of: vni) }
        return out
    }

    /// Why `candidate`, a new live definition, cannot be made, or nil when it can. Checked
    /// against the live (winning, not deleted) definitions, in this order: the VNI carrying
    /// another network; a subnet (IPv4, or IPv6 when both have one) overlapping that of another
    /// VNI; the name taken on another VNI. Among several definitions in the way, the one with
    /// the lowest VNI is named, so every host gives the same answer. The same network
    /// (`isSameNetwork`) is no conflict: another host creating its copy. A deletion never
    /// conflicts (nil).
    ///
    /// This checks one host's view: two hosts that create networks at once, before seeing
    /// each other's rows, can both pass it.
    public func conflict(with candidate: NetworkDefinition) -> NetworkConflict? {
        guard !candidate.deleted else { return nil }
        let live = definitions().values.filter { !$0.deleted }.sorted { $0.vni < $1.vni }
        if let d = live.first(where: { $0.vni == candidate.vni }), !d.isSameNetwork(as: candidate) {
            return .vniInUse(d)
        }
        let others = live.filter { $0.vni != candidate.vni }
        if let d = others.first(where: { d in
            d.subnet.overlaps(candidate.subnet)
                || (d.subnet6.flatMap { a in candidate.subnet6.map { a.overlaps($0) } } ?? false)
        }) {
            return .subnetOverlaps(d)
        }
        if let d = others.first(where: { $0.name.utf8.elementsEqual(candidate.name.utf8) }) {
            return .nameInUse(d)
        }
        return nil
    }

    /// Who holds block `index` of `vni`: the earliest claim (the smallest `Claim`: time, then
    /// owner bytewise), whether or not its owner is live (its addresses may be in use); nil
    /// when nobody claims it.
    public func blockHolder(vni: VNI, index: UInt32) -> Claim? {
        guard let claims = blocks[BlockID(vni: vni, index: index)] else { return nil }
        var holder: Claim?
        for (owner, time) in claims {
            let claim = Claim(time: time, owner: owner)
            if holder.map({ claim < $0 }) ?? true { holder = claim }
        }
        return holder
    }

    /// The blocks of `vni` that `owner` claims, held or not (compare with `blockHolder`),
    /// in increasing order.
    public func claims(of owner: String, vni: VNI) -> [UInt32] {
        blocks.compactMap { id, claims in id.vni == vni && claims[owner] != nil ? id.index : nil }.sorted()
    }
}
