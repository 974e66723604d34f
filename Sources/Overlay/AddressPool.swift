public import Addresses

/// One network's addresses as offsets from the network address, with what may be handed out.
///
/// IPv4: every address of the subnet. IPv6: the first 2³² addresses of the subnet at most
/// (`managedBits6`), so offsets, span lengths and their sums over every host stay far inside a
/// UInt64 (a /64 has 2⁶⁴ addresses, more than any overlay will lease); an address past them is
/// refused for `--ip`, `--gateway`, `--aux-address` and `--ip-range` (`outsideSpan`). Never handed out: offset 0 (the network address, IPv6's subnet-router anycast), the IPv4
/// broadcast address, the gateway and the aux addresses; and nothing outside `--ip-range`
/// unless asked for by address (`--ip`), as Docker does.
public struct AddressPool: Hashable, Sendable {
    public let subnet: Subnet
    /// Offsets are 0 ..< size.
    public let size: UInt64
    /// Automatic allocation only inside `[rangeLow, rangeHigh)` (`--ip-range`, else the pool).
    public let rangeLow: UInt64
    public let rangeHigh: UInt64
    public let reserved: Set<UInt64>

    /// Host bits of the part of an IPv6 subnet that is managed: offsets 0 ..< 2³².
    public static let managedBits6 = 32

    /// - Throws: `AddressPoolError` when the subnet is too small to hold an address, or the
    ///   gateway, an aux address or the ip range lies outside it.
    public init(subnet: Subnet, ipRange: Subnet? = nil, gateway: IPAddress? = nil,
                auxAddresses: [IPAddress] = []) throws(AddressPoolError) {
        let hostBits = (subnet.isIPv4 ? 32 : 128) - subnet.prefix
        guard hostBits >= 2 else { throw .subnetTooSmall(subnet) }
        self.subnet = subnet
        let size = UInt64(1) << UInt64(min(hostBits, subnet.isIPv4 ? 32 : Self.managedBits6))
        self.size = size
        var reserved: Set<UInt64> = [0]
        if subnet.isIPv4 { reserved.insert(size - 1) }
        let offsetOf = { (ip: IPAddress) -> UInt64? in Self.offset(of: ip, in: subnet, size: size) }
        for ip in (gateway.map { [$0] } ?? []) + auxAddresses {
            guard let o = offsetOf(ip) else { throw subnet.contains(ip) ? .outsideSpan(ip) : .outsideSubnet(ip) }
            reserved.insert(o)
        }
        self.reserved = reserved
        if let r = ipRange {
            guard r.prefix >= subnet.prefix, subnet.contains(r.base) else { throw .rangeOutsideSubnet(r) }
            guard let low = offsetOf(r.base) else { throw .outsideSpan(r.base) }
            let bits = (r.isIPv4 ? 32 : 128) - r.prefix
            self.rangeLow = low
            self.rangeHigh = bits >= 64 ? size : min(size, low + (UInt64(1) << UInt64(bits)))
        } else {
            self.rangeLow = 0
            self.rangeHigh = size
        }
    }

    public func address(_ offset: UInt64) -> IPAddress {
        switch subnet.base {
        case .v4(let b): .v4(b + UInt32(offset))
        // The subnet's host bits are zero and offset < 2^(host bits), so no carry.
        case .v6(let hi, let lo): .v6(hi, lo | offset)
        }
    }

    /// nil when `ip` is not in the pool.
    public func offset(of ip: IPAddress) -> UInt64? { Self.offset(of: ip, in: subnet, size: size) }

    static func offset(of ip: IPAddress, in subnet: Subnet, size: UInt64) -> UInt64? {
        guard subnet.contains(ip) else { return nil }
        switch (subnet.base, ip) {
        case (.v4(let b), .v4(let a)): return UInt64(a - b)
        case (.v6(let bh, let bl), .v6(let ah, let al)):
            guard ah == bh, al - bl < size else { return nil }
            return al - bl
        default: return nil
        }
    }

    /// May be handed out without being asked for by address.
    public func isAllocatable(_ offset: UInt64) -> Bool {
        rangeLow <= offset && offset < rangeHigh && !reserved.contains(offset)
    }

    /// May be leased when asked for by address.
    public func isLeasable(_ offset: UInt64) -> Bool { offset < size && !reserved.contains(offset) }

    /// Allocatable offsets in `span`.
    func allocatableCount(_ span: OffsetSpan) -> UInt64 {
        let l = max(span.low, rangeLow), h = min(span.high, rangeHigh)
        guard l < h else { return 0 }
        return (h - l) - UInt64(reserved.count { $0 >= l && $0 < h })
    }
}

public enum AddressPoolError: Error, Hashable, Sendable, CustomStringConvertible {
    case subnetTooSmall(Subnet)
    case outsideSubnet(IPAddress)
    case rangeOutsideSubnet(Subnet)
    /// Inside an IPv6 subnet but past its first 2³² addresses, the part that is managed.
    case outsideSpan(IPAddress)

    public var description: String {
        switch self {
        case .subnetTooSmall(let s): "subnet \(s) has no address to hand out"
        case .outsideSubnet(let ip): "\(ip) is not inside the subnet"
        case .rangeOutsideSubnet(let r): "ip range \(r) is not inside the subnet"
        case .outsideSpan(let ip): "\(ip) is past the first 2^\(AddressPool.managedBits6) addresses of the IPv6 subnet, the part grapevine hands out; use an address nearer the subnet's start"
        }
    }
}
