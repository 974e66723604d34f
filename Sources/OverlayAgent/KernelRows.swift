public import Netlink
public import Overlay

extension ObservedRows {
    /// One device's dumped rows, each classified by who wrote it: the agent (its ownership mark),
    /// the kernel (dynamic: learned, aging out), or an operator (permanent or static, unmarked).
    /// Rows without a destination are not VXLAN remotes and are left out; so are multicast
    /// neighbour rows, which the kernel makes for itself.
    public init(fdb: [FDBRow], neighbors: [NeighborRow]) {
        self.init()
        for row in fdb {
            guard let destination = row.destination else { continue }
            let origin = RowOrigin(ours: row.isOurs, dynamic: row.isDynamic)
            if row.mac.isZero {
                flood[destination] = origin
            } else if !row.mac.isMulticast {
                // One destination per unicast MAC; if several were appended by hand, keep ours.
                if unicast[row.mac]?.origin != .ours { unicast[row.mac] = ObservedRow(destination, origin: origin) }
            }
        }
        for row in neighbors where !row.ip.isMulticast {
            self.neighbors[row.ip] = ObservedRow(row.mac, origin: RowOrigin(ours: row.isOurs, dynamic: row.isDynamic))
        }
    }
}

extension RowOrigin {
    init(ours: Bool, dynamic: Bool) {
        self = ours ? .ours : dynamic ? .learned : .foreign
    }
}

extension RowOperation {
    /// The `Netlink` write this operation is (Docs/OVERLAY.md has the table).
    public var change: RowChange {
        switch self {
        case .appendFlood(let vtep): .putFDB(.flood(to: vtep))
        case .replaceUnicast(let mac, let vtep): .putFDB(FDBEntry(mac: mac, destination: vtep))
        case .replaceNeighbor(let ip, let mac): .putNeighbor(NeighborEntry(ip: ip, mac: mac))
        case .deleteNeighbor(let ip): .removeNeighbor(ip)
        case .deleteUnicast(let mac, let vtep): .removeFDB(FDBEntry(mac: mac, destination: vtep))
        case .deleteFlood(let vtep): .removeFDB(.flood(to: vtep))
        }
    }
}
