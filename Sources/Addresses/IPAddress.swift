import Glibc

/// An IPv4 or IPv6 address, kept as raw network-order bytes.
/// Ordered IPv4 before IPv6, then numerically, so lists of addresses sort the same everywhere.
public enum IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    case v4(UInt32)
    /// High and low 64 bits, network order read as a big-endian integer.
    case v6(UInt64, UInt64)

    /// Parses dotted-quad IPv4 or any textual IPv6 form that `inet_pton` accepts.
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        self = IPAddress(v6Bytes: bytes[...])
    }

    /// Sixteen network-order bytes (the caller checks the count).
    package init(v6Bytes bytes: ArraySlice<UInt8>) {
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        var i = bytes.startIndex
        for _ in 0..<8 { hi = hi << 8 | UInt64(bytes[i]); i += 1 }
        for _ in 0..<8 { lo = lo << 8 | UInt64(bytes[i]); i += 1 }
        self = .v6(hi, lo)
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): x < y
        case (.v4, .v6): true
        case (.v6, .v4): false
        case (.v6(let xh, let xl), .v6(let yh, let yl)): xh != yh ? xh < yh : xl < yl
        }
    }

    public var family: Int32 {
        switch self {
        case .v4: return AF_INET
        case .v6: return AF_INET6
        }
    }

    /// Multicast groups get NOARP neighbour rows from the kernel itself (for example ff02::16
    /// once IPv6 is up on the device); dumps report them, as foreign rows.
    public var isMulticast: Bool {
        switch self {
        case .v4(let v): return v >> 28 == 0xE
        case .v6(let hi, _): return hi >> 56 == 0xFF
        }
    }

    /// Network-order bytes: 4 or 16.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let v):
            return [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16),
                    UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
        case .v6(let hi, let lo):
            return (0..<8).map { UInt8(truncatingIfNeeded: hi >> (56 - 8 * UInt64($0))) }
                + (0..<8).map { UInt8(truncatingIfNeeded: lo >> (56 - 8 * UInt64($0))) }
        }
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var raw = bytes
        let family = self.family
        let ok = raw.withUnsafeMutableBytes { src in
            inet_ntop(family, src.baseAddress, &buffer, socklen_t(buffer.count)) != nil
        }
        guard ok else { return "?" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
