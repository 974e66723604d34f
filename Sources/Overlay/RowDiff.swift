public import Addresses

/// One write to a VXLAN device. Each maps to exactly one `Netlink.RowChange`: `appendFlood` and
/// `replaceUnicast` to `putFDB` (the codec picks append for the all-zero MAC and replace for a
/// unicast one), `deleteFlood`/`deleteUnicast` to `removeFDB` with that exact destination (the
/// kernel ignores a delete whose destination differs), `replaceNeighbor` to `putNeighbor`,
/// `deleteNeighbor` to `removeNeighbor`.
public enum RowOperation: Hashable, Sendable, CustomStringConvertible {
    case appendFlood(IPAddress)
    case replaceUnicast(MACAddress, IPAddress)
    case replaceNeighbor(IPAddress, MACAddress)
    case deleteNeighbor(IPAddress)
    case deleteUnicast(MACAddress, IPAddress)
    case deleteFlood(IPAddress)

    public var description: String {
        switch self {
        case .appendFlood(let v): "append flood dst \(v)"
        case .replaceUnicast(let m, let v): "replace fdb \(m) dst \(v)"
        case .replaceNeighbor(let ip, let m): "replace neigh \(ip) lladdr \(m)"
        case .deleteNeighbor(let ip): "delete neigh \(ip)"
        case .deleteUnicast(let m, let v): "delete fdb \(m) dst \(v)"
        case .deleteFlood(let v): "delete flood dst \(v)"
        }
    }
}

/// A desired row that an operator's row (`RowOrigin.foreign`) stands in the way of.
public enum BlockedRow: Hashable, Sendable, CustomStringConvertible {
    case unicast(MACAddress, wanted: IPAddress, held: IPAddress)
    case neighbor(IPAddress, wanted: MACAddress, held: MACAddress?)

    public var description: String {
        switch self {
        case .unicast(let m, let w, let h): "fdb \(m): want dst \(w), an operator's row has \(h)"
        case .neighbor(let ip, let w, let h): "neigh \(ip): want \(w), an operator's row has \(h.map(\.description) ?? "none")"
        }
    }
}

/// The operations that turn a device's observed rows into the desired ones.
///
/// Minimal: a row that is already right is not written, and rows the agent did not write are
/// never deleted, except a learned unicast row the agent must replace (deleted just before
/// the agent's row is written, since the kernel would keep it learned). Ordered so that traffic
/// always has a path: new flood destinations first, then unicast rows, then neighbour rows (an
/// IP never resolves to a MAC that has no row yet); then deletions in the reverse order. Within a kind, operations are sorted by address, so the same
/// states give the same list.
public struct RowDiff: Hashable, Sendable {
    public var operations: [RowOperation] = []
    public var blocked: [BlockedRow] = []

    public init(from observed: ObservedRows, to desired: NetworkRows) {
        var appends: [IPAddress] = []
        for vtep in desired.flood where observed.flood[vtep] == nil { appends.append(vtep) }

        // A learned row to replace is deleted first: the kernel keeps a learned FDB row learned
        // (and unmarked) when the agent's marked row replaces it, so it would still age out.
        var unicastPuts: [(mac: MACAddress, vtep: IPAddress, learned: IPAddress?)] = []
        for (mac, vtep) in desired.unicast {
            switch observed.unicast[mac] {
            case nil: unicastPuts.append((mac, vtep, nil))
            case let row? where row.origin == .foreign:
                if row.value != vtep { blocked.append(.unicast(mac, wanted: vtep, held: row.value)) }
            case let row? where row.origin == .learned:
                unicastPuts.append((mac, vtep, row.value))
            case let row?:
                if row.value != vtep { unicastPuts.append((mac, vtep, nil)) }
            }
        }

        var neighborPuts: [(IPAddress, MACAddress)] = []
        for (ip, mac) in desired.neighbors {
            switch observed.neighbors[ip] {
            case nil: neighborPuts.append((ip, mac))
            case let row? where row.origin == .foreign:
                if row.value != mac { blocked.append(.neighbor(ip, wanted: mac, held: row.value)) }
            case let row?:
                if row.origin == .learned || row.value != mac { neighborPuts.append((ip, mac)) }
            }
        }

        var neighborDeletes: [IPAddress] = []
        for (ip, row) in observed.neighbors where row.origin == .ours && desired.neighbors[ip] == nil {
            neighborDeletes.append(ip)
        }
        var unicastDeletes: [(MACAddress, IPAddress)] = []
        for (mac, row) in observed.unicast where row.origin == .ours && desired.unicast[mac] == nil {
            unicastDeletes.append((mac, row.value))
        }
        var floodDeletes: [IPAddress] = []
        for (vtep, origin) in observed.flood where origin == .ours && !desired.flood.contains(vtep) {
            floodDeletes.append(vtep)
        }

        operations.reserveCapacity(appends.count + unicastPuts.count + neighborPuts.count + neighborDeletes.count
                                   + unicastDeletes.count + floodDeletes.count)
        operations += appends.sorted().map { .appendFlood($0) }
        for put in unicastPuts.sorted(by: { $0.mac < $1.mac }) {
            if let learned = put.learned { operations.append(.deleteUnicast(put.mac, learned)) }
            operations.append(.replaceUnicast(put.mac, put.vtep))
        }
        operations += neighborPuts.sorted { $0.0 < $1.0 }.map { .replaceNeighbor($0.0, $0.1) }
        operations += neighborDeletes.sorted().map { .deleteNeighbor($0) }
        operations += unicastDeletes.sorted { $0.0 < $1.0 }.map { .deleteUnicast($0.0, $0.1) }
        operations += floodDeletes.sorted().map { .deleteFlood($0) }
        blocked.sort { $0.description < $1.description }
    }

    public var isEmpty: Bool { operations.isEmpty }
}
