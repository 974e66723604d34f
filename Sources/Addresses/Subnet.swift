/// An IPv4 or IPv6 CIDR block (RFC 4632 §3.1): the addresses whose first `prefix` bits are
/// those of `base`. Always canonical: `base` has no bit set past the prefix, so one block has
/// one value, and `description` ("10.10.10.0/24", "fd00:10::/64") parses back to it.
public struct Subnet: Hashable, Sendable, CustomStringConvertible {
    /// The network address: the first address of the block, host bits all zero.
    public let base: IPAddress
    /// Leading bits fixed: 0...32 for IPv4, 0...128 for IPv6.
    public let prefix: Int

    /// - Throws: `SubnetError.prefixOutOfRange` past the family's width,
    ///   `SubnetError.hostBitsSet` when `base` has a bit set past the prefix (a block written
    ///   with one of its hosts, "10.10.10.1/24", is refused rather than guessed at, as Docker
    ///   refuses it).
    public init(base: IPAddress, prefix: Int) throws(SubnetError) {
        guard (0...base.bitWidth).contains(prefix) else { throw .prefixOutOfRange(prefix) }
        guard base.masked(to: prefix) == base else { throw .hostBitsSet }
        self.base = base
        self.prefix = prefix
    }

    /// Parses `ADDRESS/PREFIX`: an address `IPAddress(_:)` accepts, then 1...3 decimal digits
    /// without a leading zero (except "0" itself), nothing else around them.
    /// - Throws: `SubnetError.malformed` for any other text, else what `init(base:prefix:)` throws.
    public init(_ text: String) throws(SubnetError) {
        let parts = text.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 2, let base = IPAddress(String(parts[0])) else { throw .malformed(text) }
        let digits = Array(parts[1].utf8)
        guard (1...3).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }),
              digits.count == 1 || digits[0] != 0x30
        else { throw .malformed(text) }
        // At most three digits, so at most 999: no overflow.
        let prefix = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        try self.init(base: base, prefix: prefix)
    }

    public var description: String { "\(base)/\(prefix)" }

    public var isIPv4: Bool {
        if case .v4 = base { return true }
        return false
    }

    /// The network address (`base`).
    public var network: IPAddress { base }

    /// The last address of an IPv4 block (all host bits set); nil for IPv6, which has none.
    public var broadcast: IPAddress? {
        guard case .v4(let v) = base else { return nil }
        return .v4(v | ~Self.mask4(prefix))
    }

    /// How many addresses an IPv4 block holds, 1 ... 2³²; nil for IPv6.
    public var size: UInt64? {
        guard isIPv4 else { return nil }
        return 1 << (32 - prefix)
    }

    /// Whether `ip` is of this family and inside the block.
    public func contains(_ ip: IPAddress) -> Bool {
        ip.family == base.family && ip.masked(to: prefix) == base
    }

    /// Whether the two blocks share an address. CIDR blocks nest or are disjoint, so they
    /// overlap exactly when the shorter prefix's block holds the other's base.
    public func overlaps(_ other: Subnet) -> Bool {
        prefix <= other.prefix ? contains(other.base) : other.contains(base)
    }

    /// The IPv4 netmask of `prefix` (0...32) bits. Swift's `<<` shifts a width or more out to
    /// zero, so /0 needs no special case.
    static func mask4(_ prefix: Int) -> UInt32 { UInt32.max << (32 - prefix) }
}

/// Why a subnet was refused.
public enum SubnetError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Not `ADDRESS/PREFIX`.
    case malformed(String)
    case prefixOutOfRange(Int)
    /// The address has bits set past the prefix: it names a host, not a block.
    case hostBitsSet

    public var description: String {
        switch self {
        case .malformed(let text): "\(text.debugDescription) is not ADDRESS/PREFIX"
        case .prefixOutOfRange(let p): "prefix length \(p) is out of range for the address family"
        case .hostBitsSet: "the address has bits set past the prefix length"
        }
    }
}

extension IPAddress {
    /// 32 or 128.
    var bitWidth: Int {
        switch self {
        case .v4: 32
        case .v6: 128
        }
    }

    /// The address with every bit past the first `prefix` cleared (`prefix` within 0...bitWidth).
    func masked(to prefix: Int) -> IPAddress {
        switch self {
        case .v4(let v):
            return .v4(v & Subnet.mask4(prefix))
        case .v6(let hi, let lo):
            // Overshifts give zero (Swift's smart shifts), so the halves need no case analysis.
            let hiMask = prefix >= 64 ? UInt64.max : UInt64.max << (64 - prefix)
            let loMask = prefix <= 64 ? 0 : UInt64.max << (128 - prefix)
            return .v6(hi & hiMask, lo & loMask)
        }
    }
}
