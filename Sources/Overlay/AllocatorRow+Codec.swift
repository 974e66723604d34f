import Addresses

/// The bytes of an allocator row (`OverlayRow.allocator`), written by hand and read with
/// every count range-checked, so that any input gives a row or an `OverlayRowError`, never a
/// trap or an allocation larger than the input allows.
///
/// Value (after the row format byte `01`); integers are unsigned LEB128 varints of at most 10
/// bytes without trailing zero groups (one encoding per value); texts a varint length
/// 1...`maxText` then UTF-8 without control characters; lists a varint count then the items:
/// - pool: a flags byte (bit 0 ip range, bit 1 gateway; other bits zero), the subnet (family
///   byte `04`/`06`, base, `u8` prefix), the ip range (same), the gateway (family byte and
///   address), the aux addresses (count ≤ `PoolDefinition.maxAuxAddresses`, increasing);
/// - `version`, `lastSequence`; a flags byte (bit 0 left, bit 1 successor), the successor;
/// - owned: spans as (low, count ≥ 1), increasing, neither overlapping nor touching, inside
///   the pool's offsets;
/// - leases: the leased offsets as runs (gap, count ≥ 1): the first run starts at offset `gap`,
///   each later one `gap` ≥ 1 past the end of the one before (runs neither overlap nor touch);
///   each run inside one owned span; at most `maxLeases` offsets in all;
/// - donations: (sequence, low, count, recipient);
/// - taken: (key, sequence), keys bytewise increasing;
/// - requests: (sequence, owner, flags byte bit 0 "address", address);
/// - answered, reclaimed: (host, number), hosts bytewise increasing.
extension AllocatorRecord {
    /// Longest host, identity, key or lease id text: a host name (255 bytes) and `~` and an
    /// incarnation, or `donor>recipient` of two such.
    public static let maxText = 600
    /// List bounds, far past what fits a gossip row value (1 KB by default): they only keep a
    /// forged row from asking for large allocations.
    public static let maxListCount = 4_096
    /// The most addresses one host may lease in one network: far past what a host runs, and
    /// what bounds the set a forged row's runs can make a replica build.
    public static let maxLeases = 65_536

    public func encodedValue() -> [UInt8] {
        var out: [UInt8] = []
        let p = pool
        out.append((p.ipRange == nil ? 0 : 1) | (p.gateway == nil ? 0 : 2))
        out.putSubnet(p.subnet)
        if let r = p.ipRange { out.putSubnet(r) }
        if let g = p.gateway { out.putAddress(g) }
        out.putVarint(UInt64(p.auxAddresses.count))
        for a in p.auxAddresses { out.putAddress(a) }
        out.putVarint(row.version)
        out.putVarint(row.lastSequence)
        out.append((row.left ? 1 : 0) | (row.successor == nil ? 0 : 2))
        if let s = row.successor { out.putText(s) }
        out.putVarint(UInt64(row.owned.count))
        for s in row.owned { out.putSpan(s) }
        let runs = Self.runs(of: row.leases)
        out.putVarint(UInt64(runs.count))
        var end: UInt64 = 0
        for r in runs {
            out.putVarint(r.low - end)
            out.putVarint(r.count)
            end = r.high
        }
        out.putVarint(UInt64(row.donations.count))
        for d in row.donations {
            out.putVarint(d.sequence)
            out.putSpan(d.span)
            out.putText(d.recipient)
        }
        out.putMap(row.taken)
        out.putVarint(UInt64(row.requests.count))
        for q in row.requests {
            out.putVarint(q.sequence)
            out.putText(q.owner)
            out.append(q.address == nil ? 0 : 1)
            if let a = q.address { out.putVarint(a) }
        }
        out.putMap(row.answered)
        out.putMap(row.reclaimed)
        return out
    }

    /// Leased offsets as maximal runs, increasing.
    static func runs(of leases: Set<UInt64>) -> [OffsetSpan] {
        var out: [OffsetSpan] = []
        for o in leases.sorted() {
            if let last = out.last, last.high == o {
                out[out.count - 1] = OffsetSpan(last.low, o + 1)
            } else {
                out.append(OffsetSpan(o, o + 1))
            }
        }
        return out
    }

    /// Decodes the value after the format byte, of `owner`'s allocator for `vni` in its
    /// `incarnation` (both from the key).
    /// - Throws: `OverlayRowError` (`truncated`, `trailingBytes`, `badAllocator(why)`,
    ///   `badSubnet`, `badAddressFamily`, `badName`).
    public init(vni: VNI, incarnation: UInt32, owner: String, decoding value: some Collection<UInt8>) throws(OverlayRowError) {
        var r = RowReader(value)
        let poolFlags = try r.u8()
        guard poolFlags & ~3 == 0 else { throw .unknownFlags(poolFlags) }
        let subnet = try r.prefixedSubnet()
        let ipRange = poolFlags & 1 == 0 ? nil : try r.prefixedSubnet()
        let gateway = poolFlags & 2 == 0 ? nil : try r.ip()
        let auxCount = try r.count(max: PoolDefinition.maxAuxAddresses)
        var aux: [IPAddress] = []
        for _ in 0..<auxCount {
            let a = try r.ip()
            if let last = aux.last, !PoolDefinition.precedes(last, a) { throw .badAllocator("aux addresses not increasing") }
            aux.append(a)
        }
        let pool = PoolDefinition(subnet: subnet, ipRange: ipRange, gateway: gateway, auxAddresses: aux)
        let offsets: AddressPool
        do { offsets = try pool.pool() } catch { throw .badAllocator("pool: \(error)") }

        var row = AllocatorRow(host: Self.identity(owner: owner, incarnation: incarnation))
        row.version = try r.varint()
        row.lastSequence = try r.varint()
        let flags = try r.u8()
        guard flags & ~3 == 0 else { throw .unknownFlags(flags) }
        row.left = flags & 1 != 0
        if flags & 2 != 0 { row.successor = try r.allocatorText() }
        for _ in 0..<(try r.count(max: Self.maxListCount)) {
            let s = try r.span(size: offsets.size)
            if let last = row.owned.last, last.high >= s.low { throw .badAllocator("owned spans not increasing and apart") }
            row.owned.append(s)
        }
        var end: UInt64?
        for _ in 0..<(try r.count(max: Self.maxListCount)) {
            let gap = try r.varint()
            let count = try r.varint()
            guard end == nil || gap >= 1 else { throw .badAllocator("lease runs touching") }
            let (low, lowOverflow) = (end ?? 0).addingReportingOverflow(gap)
            let (high, highOverflow) = low.addingReportingOverflow(count)
            guard count >= 1, !lowOverflow, !highOverflow else { throw .badAllocator("lease run outside the pool") }
            guard Spans.covers(row.owned, OffsetSpan(low, high)) else { throw .badAllocator("lease outside the owned spans") }
            guard UInt64(row.leases.count) + count <= UInt64(Self.maxLeases) else { throw .badAllocator("leases past \(Self.maxLeases)") }
            for o in low..<high { row.leases.insert(o) }
            end = high
        }
        for _ in 0..<(try r.count(max: Self.maxListCount)) {
            let sequence = try r.varint()
            let span = try r.span(size: offsets.size)
            row.donations.append(Donation(sequence: sequence, span: span, recipient: try r.allocatorText()))
        }
        row.taken = try r.map()
        for _ in 0..<(try r.count(max: Self.maxListCount)) {
            let sequence = try r.varint()
            let owner = try r.allocatorText()
            let f = try r.u8()
            guard f & ~1 == 0 else { throw .unknownFlags(f) }
            let address: UInt64? = f == 0 ? nil : try r.varint()
            if let a = address, a >= offsets.size { throw .badAllocator("requested offset outside the pool") }
            row.requests.append(DonationRequest(sequence: sequence, owner: owner, address: address))
        }
        row.answered = try r.map()
        row.reclaimed = try r.map()
        guard r.isAtEnd else { throw .trailingBytes }
        self.init(vni: vni, incarnation: incarnation, pool: pool, row: row)
    }
}

extension [UInt8] {
    fileprivate mutating func putVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        append(UInt8(v))
    }

    fileprivate mutating func putText(_ text: String) {
        putVarint(UInt64(text.utf8.count))
        self += text.utf8
    }

    fileprivate mutating func putAddress(_ ip: IPAddress) {
        switch ip {
        case .v4(let v):
            append(4)
            for s in stride(from: 24, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: v >> UInt32(s))) }
        case .v6(let hi, let lo):
            append(6)
            for w in [hi, lo] { for s in stride(from: 56, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: w >> UInt64(s))) } }
        }
    }

    fileprivate mutating func putSubnet(_ s: Subnet) {
        putAddress(s.base)
        append(UInt8(truncatingIfNeeded: s.prefix))
    }

    fileprivate mutating func putSpan(_ s: OffsetSpan) {
        putVarint(s.low)
        putVarint(s.count)
    }

    fileprivate mutating func putMap(_ map: [String: UInt64]) {
        putVarint(UInt64(map.count))
        for (k, v) in map.sorted(by: { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }) {
            putText(k)
            putVarint(v)
        }
    }
}

/// The allocator value's fields, read off the same reader as every overlay row.
extension RowReader {
    /// LEB128, at most 10 bytes, the last group non-zero unless it is the only one, no bits past 64.
    mutating func varint() throws(OverlayRowError) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<10 {
            let b = try u8()
            let group = UInt64(b & 0x7F)
            if i == 9, group > 1 { throw .badAllocator("integer past 64 bits") }
            value |= group << UInt64(7 * i)
            if b & 0x80 == 0 {
                if i > 0, group == 0 { throw .badAllocator("integer not in its shortest form") }
                return value
            }
        }
        throw .badAllocator("integer past 64 bits")
    }

    mutating func count(max: Int) throws(OverlayRowError) -> Int {
        let n = try varint()
        guard n <= UInt64(max) else { throw .badAllocator("count \(n) past \(max)") }
        return Int(n)
    }

    /// A varint length and that many bytes of UTF-8, 1 to `AllocatorRecord.maxText`, no control character.
    mutating func allocatorText() throws(OverlayRowError) -> String {
        let length = try varint()
        guard (1...UInt64(AllocatorRecord.maxText)).contains(length) else { throw .badName }
        var raw: [UInt8] = []
        raw.reserveCapacity(Int(length))
        for _ in 0..<length { raw.append(try u8()) }
        guard let text = String(validating: raw, as: UTF8.self),
              !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { throw .badName }
        return text
    }

    /// An address (as `ip()`) and a `u8` prefix.
    mutating func prefixedSubnet() throws(OverlayRowError) -> Subnet {
        let base = try ip()
        let prefix = Int(try u8())
        do { return try Subnet(base: base, prefix: prefix) } catch { throw .badSubnet("\(base)/\(prefix)") }
    }

    /// A span inside `[0, size)`.
    mutating func span(size: UInt64) throws(OverlayRowError) -> OffsetSpan {
        let low = try varint()
        let count = try varint()
        guard count >= 1, low < size, count <= size - low else { throw .badAllocator("span outside the pool") }
        return OffsetSpan(low, low + count)
    }

    /// Texts to numbers, keys bytewise increasing.
    mutating func map() throws(OverlayRowError) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        var last: [UInt8]?
        for _ in 0..<(try count(max: AllocatorRecord.maxListCount)) {
            let k = try allocatorText()
            let bytes = Array(k.utf8)
            if let l = last, !l.lexicographicallyPrecedes(bytes) { throw .badAllocator("keys not increasing") }
            last = bytes
            out[k] = try varint()
        }
        return out
    }
}
