/// A node's UDP/TCP endpoint: an IPv4 or IPv6 address and a port.
///
/// Stored as two words so that it hashes and compares without allocating; an IPv4 address
/// lives in the low 32 bits of `low` with `high == 0`.
public struct Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    public enum Family: UInt8, Sendable { case v4 = 4, v6 = 6 }

    public var family: Family
    public var high: UInt64
    public var low: UInt64
    public var port: UInt16

    public init(ipv4: UInt32, port: UInt16) {
        self.family = .v4
        self.high = 0
        self.low = UInt64(ipv4)
        self.port = port
    }

    public init(ipv6High: UInt64, low: UInt64, port: UInt16) {
        self.family = .v6
        self.high = ipv6High
        self.low = low
        self.port = port
    }

    /// The IPv4 address as a host-order integer; nil for IPv6.
    public var ipv4: UInt32? { family == .v4 ? UInt32(truncatingIfNeeded: low) : nil }

    /// The address bytes in network order: 4 for IPv4, 16 for IPv6.
    public var bytes: [UInt8] {
        switch family {
        case .v4:
            let v = UInt32(truncatingIfNeeded: low)
            return [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
        case .v6:
            return (0..<8).map { UInt8(high >> (56 - 8 * UInt64($0)) & 0xff) }
                + (0..<8).map { UInt8(low >> (56 - 8 * UInt64($0)) & 0xff) }
        }
    }

    /// Builds an address from 4 or 16 network-order bytes.
    public init?(bytes: some Collection<UInt8>, port: UInt16) {
        switch bytes.count {
        case 4:
            var v: UInt32 = 0
            for b in bytes { v = v << 8 | UInt32(b) }
            self.init(ipv4: v, port: port)
        case 16:
            var h: UInt64 = 0
            var l: UInt64 = 0
            for (i, b) in bytes.enumerated() {
                if i < 8 { h = h << 8 | UInt64(b) } else { l = l << 8 | UInt64(b) }
            }
            self.init(ipv6High: h, low: l, port: port)
        default:
            return nil
        }
    }

    /// Parses `a.b.c.d:port`, `[v6]:port` or `a.b.c.d` / `v6` with `defaultPort`.
    public init?(parsing text: some StringProtocol, defaultPort: UInt16? = nil) {
        var host = Substring(text)
        var port = defaultPort
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if rest.hasPrefix(":") {
                guard let p = UInt16(rest.dropFirst()) else { return nil }
                port = p
            } else if !rest.isEmpty {
                return nil
            }
        } else if host.filter({ $0 == ":" }).count == 1, let colon = host.lastIndex(of: ":") {
            guard let p = UInt16(host[host.index(after: colon)...]) else { return nil }
            port = p
            host = host[..<colon]
        }
        guard let port else { return nil }
        if let v4 = Self.parseIPv4(host) {
            self.init(ipv4: v4, port: port)
        } else if let v6 = Self.parseIPv6(host) {
            self.init(ipv6High: v6.0, low: v6.1, port: port)
        } else {
            return nil
        }
    }

    static func parseIPv4(_ s: Substring) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, let octet = UInt8(p) else { return nil }
            v = v << 8 | UInt32(octet)
        }
        return v
    }

    static func parseIPv6(_ s: Substring) -> (UInt64, UInt64)? {
        guard let halves = s.splitAtDoubleColon() else { return nil }
        func groups(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for g in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        var all: [UInt16]
        if let tail = halves.1 {
            guard let head = groups(halves.0), let rest = groups(tail), head.count + rest.count < 8 else { return nil }
            all = head + Array(repeating: 0, count: 8 - head.count - rest.count) + rest
        } else {
            guard let g = groups(halves.0), g.count == 8 else { return nil }
            all = g
        }
        var h: UInt64 = 0
        var l: UInt64 = 0
        for (i, g) in all.enumerated() {
            if i < 4 { h = h << 16 | UInt64(g) } else { l = l << 16 | UInt64(g) }
        }
        return (h, l)
    }

    public var description: String {
        switch family {
        case .v4:
            let b = bytes
            return "\(b[0]).\(b[1]).\(b[2]).\(b[3]):\(port)"
        case .v6:
            var groups: [String] = []
            for i in 0..<8 {
                let word = i < 4 ? high : low
                let shift = UInt64(48 - 16 * (i % 4))
                groups.append(String(UInt16(truncatingIfNeeded: word >> shift), radix: 16))
            }
            return "[\(groups.joined(separator: ":"))]:\(port)"
        }
    }

    /// `0.0.0.0` or `::`.
    public var isUnspecified: Bool { high == 0 && low == 0 }

    /// `127.0.0.0/8` or `::1`.
    public var isLoopback: Bool {
        family == .v4 ? low >> 24 == 127 : high == 0 && low == 1
    }

    /// Addresses no datagram may be sent to as a single peer: `0.0.0.0/8`, multicast
    /// (`224.0.0.0/4`, `ff00::/8`), the reserved block with the limited broadcast
    /// (`240.0.0.0/4`), link-local IPv6 (`fe80::/10`, which needs a scope this type does not
    /// carry) and IPv4-mapped IPv6 (`::ffff:0:0/96`).
    public var isSpecialPurpose: Bool {
        switch family {
        case .v4:
            let first = low >> 24 & 0xff
            return first == 0 || first >= 224
        case .v6:
            return high >> 56 == 0xff || high >> 54 == 0x3fa || isUnspecified
                || (high == 0 && low >> 32 == 0xffff)
        }
    }

    /// Whether a node whose own address is `self` can send datagrams to `peer`: the same
    /// family, a port, an address of one host, and loopback only between loopback nodes
    /// (elsewhere it would reach the sender itself). Addresses that fail this come from a
    /// misconfigured or hostile member and are refused where they enter.
    public func canReach(_ peer: Address) -> Bool {
        peer.family == family && peer.port != 0 && !peer.isSpecialPurpose && (!peer.isLoopback || isLoopback)
    }

    public static func < (a: Address, b: Address) -> Bool {
        (a.family.rawValue, a.high, a.low, a.port) < (b.family.rawValue, b.high, b.low, b.port)
    }
}

extension Substring {
    /// Splits at the one `::` an IPv6 text may hold: nil if there are two.
    fileprivate func splitAtDoubleColon() -> (Substring, Substring?)? {
        guard let r = self.firstRange(of: "::") else { return (self, nil) }
        let tail = self[r.upperBound...]
        if tail.contains("::") { return nil }
        return (self[..<r.lowerBound], tail)
    }
}
