public import Addresses

/// The overlay's rows as one host publishes them through the replicated state: its host row
/// (VTEP and networks) and one row per local endpoint. The row's owner is the replicated
/// state's owner (a host writes only its own rows), so it is not repeated in the bytes.
///
/// Encoding (all integers big-endian; exactly one accepted encoding per value):
/// - host: key `01`; value `01` (format version), the VTEP (`04` + 4 bytes or `06` + 16 bytes),
///   a `u16` count, then that many 3-byte VNIs in increasing order without repeats.
/// - endpoint: key `02`, the 3-byte VNI, the 6-byte MAC; value `01`, the claim's Lamport time
///   (`u64`), a flags byte (bit 0 IPv4, bit 1 IPv6, bit 2 name, bit 3 aliases; other bits
///   zero), the IPv4 (4 bytes), the IPv6 (16 bytes), the name (`u8` length, 1...255 bytes of
///   UTF-8), the aliases (a `u8` count 1...`maxAliases`, then each as the name is, in
///   strictly increasing bytewise order), each only when its flag is set. An endpoint without
///   aliases encodes as before bit 3 existed, so agents that predate it still read it.
/// - network: key `03`, the 3-byte VNI; value `01`, the definition's Lamport time (`u64`), a
///   flags byte (bit 0 internal, bit 1 deleted, bit 2 IPv6 subnet, bit 3 MTU; other bits
///   zero), the IPv4 subnet (4-byte base, `u8` prefix), the IPv6 subnet (16-byte base, `u8`
///   prefix) only when its flag is set, the MTU (`u16`, `NetworkDefinition.mtuRange`) only when
///   its flag is set, the name and the origin (each a `u8` length and 1...255 bytes of UTF-8).
///   A network without an MTU encodes as before bit 3 existed.
/// - block: key `04`, the 3-byte VNI, the block's index (`u32`); value `01`, the claim's
///   Lamport time (`u64`). Read for agents that predate allocator rows; no longer written.
/// - allocator: key `05` (an IPv4 pool) or `06` (an IPv6 pool: a dual-stack network has one
///   allocator per family), the 3-byte VNI, the allocator's incarnation (`u32`); value `01`
///   and the record as `AllocatorRow+Codec.swift` describes it, its pool of the key's family.
public enum OverlayRow: Hashable, Sendable {
    case host(vtep: IPAddress, networks: Set<VNI>)
    case endpoint(Endpoint)
    /// This owner's copy of a network's definition (every host in the network writes one).
    case network(NetworkDefinition)
    /// This owner's claim on one block of a network's addresses.
    case block(BlockClaim)
    /// This owner's address allocator for one network and address family (`AddressAllocator`),
    /// in one incarnation.
    case allocator(AllocatorRecord)

    /// At most this many networks per host row: enough for any host, small enough that a host
    /// row is one datagram-sized value.
    public static let maxNetworks = 256

    /// At most this many aliases per endpoint: with 255-byte names an endpoint row stays
    /// under 4.2 KB; Docker sets no limit, but a container with more is refused, not cut.
    public static let maxAliases = 16

    // MARK: encoding

    public var key: [UInt8] {
        switch self {
        case .host: return [RowKind.host.rawValue]
        case .endpoint(let e): return Self.endpointKey(network: e.network, mac: e.mac)
        case .network(let d): return Self.networkKey(d.vni)
        case .block(let b): return Self.blockKey(vni: b.vni, index: b.index)
        case .allocator(let a): return Self.allocatorKey(vni: a.vni, incarnation: a.incarnation, ipv6: !a.pool.subnet.isIPv4)
        }
    }

    public static func endpointKey(network: VNI, mac: MACAddress) -> [UInt8] {
        var out: [UInt8] = [RowKind.endpoint.rawValue]
        out.putVNI(network)
        out += mac.bytes
        return out
    }

    public static func networkKey(_ vni: VNI) -> [UInt8] {
        var out: [UInt8] = [RowKind.network.rawValue]
        out.putVNI(vni)
        return out
    }

    public static func blockKey(vni: VNI, index: UInt32) -> [UInt8] {
        var out: [UInt8] = [RowKind.block.rawValue]
        out.putVNI(vni)
        out.putU32(index)
        return out
    }

    /// The key of the allocator row of `vni`'s IPv4 pool, or with `ipv6` of its IPv6 pool.
    public static func allocatorKey(vni: VNI, incarnation: UInt32, ipv6: Bool = false) -> [UInt8] {
        var out: [UInt8] = [(ipv6 ? RowKind.allocator6 : RowKind.allocator).rawValue]
        out.putVNI(vni)
        out.putU32(incarnation)
        return out
    }

    /// - Throws: `OverlayRowError` when the row holds a value no host would accept (a multicast
    ///   MAC, an address of the wrong family, too many networks, a subnet out of range...), so
    ///   it is refused where it is made rather than by every receiver.
    public func value() throws(OverlayRowError) -> [UInt8] {
        try validate()
        return encodedValue()
    }

    /// The value's bytes, unchecked: `value()` once the row is known to be valid.
    func encodedValue() -> [UInt8] {
        var out: [UInt8] = [Self.formatVersion]
        switch self {
        case .host(let vtep, let networks):
            out.putIP(vtep)
            out.putU16(UInt16(networks.count))
            for vni in networks.sorted() { out.putVNI(vni) }
        case .endpoint(let e):
            out.putU64(e.claim.time)
            out.append((e.ipv4 == nil ? 0 : 1) | (e.ipv6 == nil ? 0 : 2) | (e.name == nil ? 0 : 4) | (e.aliases.isEmpty ? 0 : 8))
            if case .v4(let v)? = e.ipv4 { out.putU32(v) }
            if case .v6(let hi, let lo)? = e.ipv6 { out.putU64(hi); out.putU64(lo) }
            if let name = e.name { out.putText(name) }
            if !e.aliases.isEmpty {
                out.append(UInt8(truncatingIfNeeded: e.aliases.count))
                for alias in e.aliases { out.putText(alias) }
            }
        case .network(let d):
            out.putU64(d.time)
            out.append((d.internal ? 1 : 0) | (d.deleted ? 2 : 0) | (d.subnet6 == nil ? 0 : 4) | (d.mtu == nil ? 0 : 8))
            out.putSubnet(d.subnet)
            if let s = d.subnet6 { out.putSubnet(s) }
            if let m = d.mtu { out.putU16(UInt16(truncatingIfNeeded: m)) }
            out.putText(d.name)
            out.putText(d.origin)
        case .block(let b):
            out.putU64(b.claim.time)
        case .allocator(let a):
            out += a.encodedValue()
        }
        return out
    }

    // MARK: decoding

    /// Decodes one row of `owner`.
    public init(key: some Collection<UInt8>, value: some Collection<UInt8>, owner: String) throws(OverlayRowError) {
        var k = RowReader(key)
        var v = RowReader(value)
        let kind = try k.u8()
        guard try v.u8() == Self.formatVersion else { throw .unsupportedFormat }
        switch RowKind(rawValue: kind) {
        case .host:
            let vtep = try v.ip()
            let count = Int(try v.u16())
            guard count <= Self.maxNetworks else { throw .tooManyNetworks(count) }
            var networks = Set<VNI>()
            var previous: VNI?
            for _ in 0..<count {
                let vni = try v.vni()
                if let previous, vni <= previous { throw .networksNotCanonical }
                previous = vni
                networks.insert(vni)
            }
            self = .host(vtep: vtep, networks: networks)
        case .endpoint:
            let network = try k.vni()
            let mac = try k.mac()
            let time = try v.u64()
            let flags = try v.u8()
            guard flags & ~15 == 0 else { throw .unknownFlags(flags) }
            let ipv4: IPAddress? = flags & 1 == 0 ? nil : .v4(try v.u32())
            let ipv6: IPAddress? = flags & 2 == 0 ? nil : .v6(try v.u64(), try v.u64())
            let name: String? = flags & 4 == 0 ? nil : try v.text()
            var aliases: [String] = []
            if flags & 8 != 0 {
                let count = Int(try v.u8())
                guard (1...Self.maxAliases).contains(count) else { throw .badAliases }
                for _ in 0..<count { aliases.append(try v.text()) }
            }
            self = .endpoint(Endpoint(network: network, mac: mac, ipv4: ipv4, ipv6: ipv6, name: name, aliases: aliases,
                                      claim: Claim(time: time, owner: owner)))
        case .network:
            let vni = try k.vni()
            let time = try v.u64()
            let flags = try v.u8()
            guard flags & ~15 == 0 else { throw .unknownFlags(flags) }
            let subnet = try v.subnet(v4: true)
            let subnet6: Subnet? = flags & 4 == 0 ? nil : try v.subnet(v4: false)
            let mtu: UInt32? = flags & 8 == 0 ? nil : UInt32(try v.u16())
            let name = try v.text()
            let origin = try v.text()
            self = .network(NetworkDefinition(name: name, vni: vni, subnet: subnet, subnet6: subnet6,
                                              internal: flags & 1 != 0, deleted: flags & 2 != 0, mtu: mtu,
                                              time: time, origin: origin))
        case .block:
            let vni = try k.vni()
            let index = try k.u32()
            self = .block(BlockClaim(vni: vni, index: index, claim: Claim(time: try v.u64(), owner: owner)))
        case .allocator, .allocator6:
            let vni = try k.vni()
            let incarnation = try k.u32()
            guard k.isAtEnd else { throw .trailingBytes }
            let record = try AllocatorRecord(vni: vni, incarnation: incarnation, owner: owner, decoding: v.rest())
            // One key per network and family: a pool of the other family under it would let
            // one host publish two rows for one pool.
            guard record.pool.subnet.isIPv4 == (kind == RowKind.allocator.rawValue) else {
                throw .badAllocator("a pool of the other address family under this key")
            }
            self = .allocator(record)
        case nil:
            throw .unknownKind(kind)
        }
        guard k.isAtEnd, v.isAtEnd else { throw .trailingBytes }
        try validate()
    }

    // MARK: rules

    static let formatVersion: UInt8 = 1

    func validate() throws(OverlayRowError) {
        switch self {
        case .host(let vtep, let networks):
            guard vtep.isUsableUnicast else { throw .badAddress(vtep) }
            guard networks.count <= Self.maxNetworks else { throw .tooManyNetworks(networks.count) }
        case .endpoint(let e):
            guard !e.mac.isZero, !e.mac.isMulticast else { throw .badMAC(e.mac) }
            if let a = e.ipv4 { guard case .v4 = a, a.isUsableUnicast else { throw .badAddress(a) } }
            if let a = e.ipv6 { guard case .v6 = a, a.isUsableUnicast else { throw .badAddress(a) } }
            if let name = e.name { guard Self.isValidName(name) else { throw .badName } }
            guard e.aliases.count <= Self.maxAliases, zip(e.aliases, e.aliases.dropFirst()).allSatisfy({ Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) else {
                throw .badAliases
            }
            for alias in e.aliases { guard Self.isValidName(alias) else { throw .badName } }
        case .network(let d):
            guard Self.isValidName(d.name), Self.isValidName(d.origin) else { throw .badName }
            // The range issue 13 sets: /8 at the widest, RFC 1918's largest private block; /29
            // at the narrowest, five addresses once network, gateway and broadcast are set aside.
            // The family is the field's, so from bytes only `value()` can see it wrong.
            guard d.subnet.isIPv4, NetworkDefinition.prefixRange.contains(d.subnet.prefix) else {
                throw .badSubnet(d.subnet.description)
            }
            // IPv6 (issue 13): /48, an end site's assignment (RFC 6177), to /120, 256 addresses.
            if let s = d.subnet6, s.isIPv4 || !NetworkDefinition.prefixRange6.contains(s.prefix) {
                throw .badSubnet(s.description)
            }
            if let m = d.mtu, !NetworkDefinition.mtuRange.contains(m) { throw .badMTU(m) }
        case .block:
            break
        case .allocator(let a):
            guard AllocatorRecord.owner(of: a.row.host).map({ AllocatorRecord.identity(owner: $0, incarnation: a.incarnation) == a.row.host }) == true else {
                throw .badAllocator("identity \(a.row.host) does not end in ~\(a.incarnation)")
            }
            guard a.pool.auxAddresses.count <= PoolDefinition.maxAuxAddresses else { throw .badAllocator("too many aux addresses") }
            do { _ = try a.pool.pool() } catch { throw .badAllocator("pool: \(error)") }
            let texts = [a.row.successor].compactMap { $0 } + a.row.donations.map(\.recipient)
                + a.row.taken.keys + a.row.requests.map(\.owner) + a.row.answered.keys + a.row.reclaimed.keys
            for t in texts {
                guard (1...AllocatorRecord.maxText).contains(t.utf8.count),
                      !t.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { throw .badName }
            }
        }
    }

    /// Aliases in the one order a row accepts: bytewise increasing, repeats dropped.
    public static func canonicalAliases(_ names: some Sequence<String>) -> [String] {
        var out: [String] = []
        for name in Set(names).sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) { out.append(name) }
        return out
    }

    /// 1...255 bytes of UTF-8 (what a `u8` length holds) without control characters, so a
    /// name is safe to print in logs and tables.
    static func isValidName(_ name: String) -> Bool {
        (1...255).contains(name.utf8.count)
            && !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
    }
}

/// Why a row was refused: when it is made (`value()`), or when it arrives (`init(key:value:owner:)`).
public enum OverlayRowError: Error, Hashable, Sendable, CustomStringConvertible {
    case truncated
    case trailingBytes
    case unsupportedFormat
    case unknownKind(UInt8)
    case unknownFlags(UInt8)
    case badVNI(UInt32)
    case badMAC(MACAddress)
    case badAddress(IPAddress)
    case badAddressFamily(UInt8)
    case badName
    /// More than `OverlayRow.maxAliases` aliases, none where the flag says some, or aliases
    /// not in strictly increasing bytewise order.
    case badAliases
    /// A network's subnet of the wrong family, or a prefix out of its range; the subnet as
    /// text ("10.0.0.0/30", or the raw base and prefix when they make no subnet).
    case badSubnet(String)
    case tooManyNetworks(Int)
    case networksNotCanonical
    case badKey
    /// A network's MTU out of `NetworkDefinition.mtuRange`.
    case badMTU(UInt32)
    /// An allocator row that breaks its own rules (the reason in words).
    case badAllocator(String)

    public var description: String {
        switch self {
        case .truncated: "row ends early"
        case .trailingBytes: "bytes after the end of the row"
        case .unsupportedFormat: "unknown row format version"
        case .unknownKind(let k): "unknown row kind \(k)"
        case .unknownFlags(let f): "unknown row flags \(f)"
        case .badVNI(let v): "VNI \(v) does not fit in 24 bits"
        case .badMAC(let m): "MAC \(m) is not a unicast address"
        case .badAddress(let a): "address \(a) is not a usable unicast address of its kind"
        case .badAddressFamily(let f): "unknown address family \(f)"
        case .badName: "names must be 1 to 255 bytes of UTF-8 without control characters"
        case .badAliases: "aliases must be 1 to \(OverlayRow.maxAliases), sorted, without repeats"
        case .badSubnet(let text):
            "subnet \(text) has host bits set, or is not IPv4 /8.../29 (nor, for the IPv6 subnet, IPv6 /48.../120)"
        case .tooManyNetworks(let n): "\(n) networks, more than \(OverlayRow.maxNetworks)"
        case .networksNotCanonical: "networks not in increasing order"
        case .badKey: "replicated-state key is not lowercase hexadecimal of whole bytes"
        case .badMTU(let m): "MTU \(m) is not \(NetworkDefinition.mtuRange.lowerBound) to \(NetworkDefinition.mtuRange.upperBound)"
        case .badAllocator(let why): "allocator row: \(why)"
        }
    }

    /// A short stable name for counters and logs (`overlay_rows_refused_total{reason}`).
    public var reason: String {
        switch self {
        case .truncated: "truncated"
        case .trailingBytes: "trailing_bytes"
        case .unsupportedFormat: "unsupported_format"
        case .unknownKind: "unknown_kind"
        case .unknownFlags: "unknown_flags"
        case .badVNI: "bad_vni"
        case .badMAC: "bad_mac"
        case .badAddress, .badAddressFamily: "bad_address"
        case .badName: "bad_name"
        case .badAliases: "bad_aliases"
        case .badSubnet: "bad_subnet"
        case .tooManyNetworks: "too_many_networks"
        case .networksNotCanonical: "not_canonical"
        case .badKey: "bad_key"
        case .badMTU: "bad_mtu"
        case .badAllocator: "bad_allocator"
        }
    }
}

enum RowKind: UInt8 {
    case host = 1
    case endpoint = 2
    case network = 3
    case block = 4
    case allocator = 5
    case allocator6 = 6
}

extension IPAddress {
    /// Not unspecified, loopback, multicast or (IPv4) limited broadcast: an address that can
    /// stand for one remote interface (a VTEP, an endpoint's address).
    public var isUsableUnicast: Bool {
        switch self {
        case .v4(let v): v != 0 && v >> 24 != 127 && v >> 28 != 0xE && v != 0xFFFF_FFFF
        case .v6(let hi, let lo): !(hi == 0 && (lo == 0 || lo == 1)) && hi >> 56 != 0xFF
        }
    }
}

extension [UInt8] {
    fileprivate mutating func putU16(_ v: UInt16) { append(UInt8(v >> 8)); append(UInt8(truncatingIfNeeded: v)) }
    fileprivate mutating func putU32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: v >> UInt32(s))) } }
    fileprivate mutating func putU64(_ v: UInt64) { for s in stride(from: 56, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: v >> UInt64(s))) } }
    fileprivate mutating func putVNI(_ vni: VNI) {
        append(UInt8(truncatingIfNeeded: vni.value >> 16)); append(UInt8(truncatingIfNeeded: vni.value >> 8)); append(UInt8(truncatingIfNeeded: vni.value))
    }
    /// A `u8` length and the UTF-8 (the caller has checked 1...255 bytes).
    fileprivate mutating func putText(_ text: String) {
        append(UInt8(truncatingIfNeeded: text.utf8.count))
        self += text.utf8
    }
    /// The base without a family byte (the field's place gives the family), then the prefix.
    fileprivate mutating func putSubnet(_ subnet: Subnet) {
        switch subnet.base {
        case .v4(let v): putU32(v)
        case .v6(let hi, let lo): putU64(hi); putU64(lo)
        }
        append(UInt8(truncatingIfNeeded: subnet.prefix))
    }
    fileprivate mutating func putIP(_ ip: IPAddress) {
        switch ip {
        case .v4(let v): append(4); putU32(v)
        case .v6(let hi, let lo): append(6); putU64(hi); putU64(lo)
        }
    }
}
