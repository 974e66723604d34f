/// A bridge FDB row to write on a VXLAN device: frames for `mac` go to the VTEP `destination`.
///
/// The all-zero MAC is the flood row (head-end replication): it holds one destination per remote
/// VTEP, and each `FDBEntry` with `mac == .zero` is one of those destinations.
public struct FDBEntry: Hashable, Sendable, CustomStringConvertible {
    public var mac: MACAddress
    public var destination: IPAddress
    /// nil: the device's own VNI. The kernel leaves the default out of dumps, so nil round-trips.
    public var vni: UInt32?
    /// nil: the device's own UDP port (also left out of dumps when it is the default).
    public var port: UInt16?

    public init(mac: MACAddress, destination: IPAddress, vni: UInt32? = nil, port: UInt16? = nil) {
        self.mac = mac
        self.destination = destination
        self.vni = vni
        self.port = port
    }

    /// A flood destination: broadcast, unknown unicast and multicast go to this VTEP too.
    public static func flood(to destination: IPAddress, vni: UInt32? = nil, port: UInt16? = nil) -> FDBEntry {
        FDBEntry(mac: .zero, destination: destination, vni: vni, port: port)
    }

    /// Rows with several destinations (zero and multicast MACs) are appended to, not replaced.
    public var isFlood: Bool { mac.isZero || mac.isMulticast }

    public var description: String {
        var text = "fdb \(mac) dst \(destination)"
        if let vni { text += " vni \(vni)" }
        if let port { text += " port \(port)" }
        return text
    }
}

/// NUD_PERMANENT | NUD_NOARP: a row someone set, as opposed to one the kernel learned.
let stateStatic: UInt16 = 0x80 | 0x40

/// A permanent ARP (IPv4) or NDP (IPv6) row on a VXLAN device, answered locally by `proxy`.
public struct NeighborEntry: Hashable, Sendable, CustomStringConvertible {
    public var ip: IPAddress
    public var mac: MACAddress

    public init(ip: IPAddress, mac: MACAddress) {
        self.ip = ip
        self.mac = mac
    }

    public var description: String { "neigh \(ip) lladdr \(mac)" }
}

/// How the agent marks the rows it writes, so that it never touches anyone else's.
public struct Ownership: Hashable, Sendable {
    /// An `ndm_flags` bit set on FDB rows we write. `NTF_EXT_LEARNED` is kept by the VXLAN
    /// driver, shown by `bridge fdb` as `extern_learn`, and not set by a plain `bridge fdb add`.
    public var fdbFlag: UInt8
    /// The `NDA_PROTOCOL` value of neighbour rows we write (shown by `ip neigh` as `proto N`).
    public var neighborProtocol: UInt8

    public init(fdbFlag: UInt8 = 0x10, neighborProtocol: UInt8 = 241) {
        self.fdbFlag = fdbFlag
        self.neighborProtocol = neighborProtocol
    }
}

/// An FDB row read back from the kernel.
public struct FDBRow: Hashable, Sendable, CustomStringConvertible {
    public var ifindex: Int32
    public var mac: MACAddress
    /// nil for rows without a remote (rare on VXLAN devices).
    public var destination: IPAddress?
    public var vni: UInt32?
    public var port: UInt16?
    /// Set only on devices with `external` (collect metadata).
    public var sourceVNI: UInt32?
    public var state: UInt16
    public var flags: UInt8
    /// Written by us (carries `Ownership.fdbFlag`); anything else is foreign and left alone.
    public var isOurs: Bool

    public init(ifindex: Int32, mac: MACAddress, destination: IPAddress?, vni: UInt32? = nil, port: UInt16? = nil,
                sourceVNI: UInt32? = nil, state: UInt16, flags: UInt8, isOurs: Bool) {
        self.ifindex = ifindex
        self.mac = mac
        self.destination = destination
        self.vni = vni
        self.port = port
        self.sourceVNI = sourceVNI
        self.state = state
        self.flags = flags
        self.isOurs = isOurs
    }

    /// Learned by the kernel (neither permanent nor static): it ages out by itself, and a row the
    /// agent must program for the same MAC replaces it rather than yielding to it.
    public var isDynamic: Bool { state & stateStatic == 0 }

    /// The entry this row is, when it has a destination.
    public var entry: FDBEntry? {
        destination.map { FDBEntry(mac: mac, destination: $0, vni: vni, port: port) }
    }

    public var description: String {
        var text = "fdb \(mac) dst \(destination.map { "\($0)" } ?? "-")"
        if let vni { text += " vni \(vni)" }
        if let port { text += " port \(port)" }
        return text + (isOurs ? " (ours)" : " (foreign)")
    }
}

/// A neighbour row read back from the kernel.
public struct NeighborRow: Hashable, Sendable, CustomStringConvertible {
    public var ifindex: Int32
    public var ip: IPAddress
    public var mac: MACAddress?
    public var state: UInt16
    public var flags: UInt8
    public var protocolNumber: UInt8?
    public var isOurs: Bool

    public init(ifindex: Int32, ip: IPAddress, mac: MACAddress?, state: UInt16, flags: UInt8,
                protocolNumber: UInt8?, isOurs: Bool) {
        self.ifindex = ifindex
        self.ip = ip
        self.mac = mac
        self.state = state
        self.flags = flags
        self.protocolNumber = protocolNumber
        self.isOurs = isOurs
    }

    public var entry: NeighborEntry? { mac.map { NeighborEntry(ip: ip, mac: $0) } }

    /// Resolved or being resolved by the kernel (reachable, stale, incomplete...), neither
    /// permanent nor NOARP: an agent's row for the same IP replaces it.
    public var isDynamic: Bool { state & stateStatic == 0 }

    public var description: String {
        "neigh \(ip) lladdr \(mac.map { "\($0)" } ?? "-")" + (isOurs ? " (ours)" : " (foreign)")
    }
}

/// One write to the kernel. `put` picks the only flags that work for the row's kind (see
/// Docs/NETLINK.md): create+replace for unicast MACs and neighbours, create+append for flood rows.
public enum RowChange: Hashable, Sendable, CustomStringConvertible {
    case putFDB(FDBEntry)
    /// Removes exactly this destination; the kernel ignores a delete whose destination does not
    /// match, so the entry must be the one that was dumped.
    case removeFDB(FDBEntry)
    case putNeighbor(NeighborEntry)
    case removeNeighbor(IPAddress)

    public var description: String {
        switch self {
        case .putFDB(let e): return "put \(e)"
        case .removeFDB(let e): return "remove \(e)"
        case .putNeighbor(let e): return "put \(e)"
        case .removeNeighbor(let ip): return "remove neigh \(ip)"
        }
    }
}

/// The rows on a device that someone else wrote, built from dumps: changes that would touch
/// them are skipped and reported instead of sent. Rows the kernel learned by itself (dynamic)
/// are nobody's: they age out, and a row the agent needs for the same key replaces them (with
/// learning on, sparing them left a peer reachable only until the learned row aged out).
public struct ForeignRows: Sendable, Equatable {
    public var unicastMACs: Set<MACAddress> = []
    public var floodDestinations: Set<IPAddress> = []
    public var neighborIPs: Set<IPAddress> = []

    public init() {}

    public init(fdb: [FDBRow], neighbors: [NeighborRow]) {
        for row in fdb where !row.isOurs && !row.isDynamic {
            if row.mac.isZero || row.mac.isMulticast {
                if let destination = row.destination { floodDestinations.insert(destination) }
            } else {
                unicastMACs.insert(row.mac)
            }
        }
        for row in neighbors where !row.isOurs && !row.isDynamic { neighborIPs.insert(row.ip) }
    }

    public var isEmpty: Bool { unicastMACs.isEmpty && floodDestinations.isEmpty && neighborIPs.isEmpty }

    /// True when `change` would overwrite, re-mark or delete a row we do not own.
    public func protects(against change: RowChange) -> Bool {
        switch change {
        case .putFDB(let e), .removeFDB(let e):
            return e.isFlood ? floodDestinations.contains(e.destination) : unicastMACs.contains(e.mac)
        case .putNeighbor(let e):
            return neighborIPs.contains(e.ip)
        case .removeNeighbor(let ip):
            return neighborIPs.contains(ip)
        }
    }
}
