import Addresses
import Overlay

/// One of a network's address pools, each with an allocator of its own: the IPv4 subnet, or
/// the IPv6 one of a dual-stack network (`NetworkDefinition.subnet6`). Each pool's allocator
/// row has a key of its own (`OverlayRow.allocatorKey(vni:incarnation:ipv6:)`), so the two are
/// independent: the one-owner invariant holds per pool (Docs/OVERLAY.md).
struct PoolKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    var vni: VNI
    var ipv6: Bool

    init(_ vni: VNI, ipv6: Bool) {
        self.vni = vni
        self.ipv6 = ipv6
    }

    /// The pool of `vni` that `address` belongs to by its family.
    init(_ vni: VNI, of address: IPAddress) {
        if case .v6 = address { self.init(vni, ipv6: true) } else { self.init(vni, ipv6: false) }
    }

    /// The pool a record's row is of: its pool's family.
    init(_ record: AllocatorRecord) { self.init(record.vni, ipv6: !record.pool.subnet.isIPv4) }

    /// The entry's name in `ipam.json`: the VNI in decimal, `/6` after it for the IPv6 pool (an
    /// IPv4 pool's is the VNI alone, as files written before IPv6 pools have it).
    var tag: String { ipv6 ? "\(vni.value)/6" : "\(vni.value)" }

    /// nil for a text `tag` never gives.
    init?(tag: String) {
        let ipv6 = tag.hasSuffix("/6")
        guard let raw = UInt32(ipv6 ? String(tag.dropLast(2)) : tag), let vni = VNI(raw), "\(raw)" == (ipv6 ? String(tag.dropLast(2)) : tag) else { return nil }
        self.init(vni, ipv6: ipv6)
    }

    var description: String { ipv6 ? "VNI \(vni) (IPv6)" : "VNI \(vni)" }

    static func < (a: PoolKey, b: PoolKey) -> Bool { a.vni != b.vni ? a.vni < b.vni : !a.ipv6 && b.ipv6 }
}
