/// A 48-bit Ethernet address.
public struct MACAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Packed big-endian into the low 48 bits so that hashing and comparing are one integer op.
    public let value: UInt64

    public init(value: UInt64) { self.value = value & 0xFFFF_FFFF_FFFF }

    public init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, _ b4: UInt8, _ b5: UInt8) {
        var v = UInt64(b0) << 40 | UInt64(b1) << 32 | UInt64(b2) << 24
        v |= UInt64(b3) << 16 | UInt64(b4) << 8 | UInt64(b5)
        self.value = v
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (also with `-`); nil for anything else.
    public init?(_ text: String) {
        var v: UInt64 = 0
        var digits = 0
        var groups = 0
        for unit in text.utf8 {
            if unit == UInt8(ascii: ":") || unit == UInt8(ascii: "-") {
                guard digits > 0, digits <= 2 else { return nil }
                groups += 1
                digits = 0
                continue
            }
            guard let nibble = hexValue(unit) else { return nil }
            v = v << 4 | UInt64(nibble)
            digits += 1
            if digits > 2 { return nil }
        }
        guard groups == 5, digits > 0 else { return nil }
        // Groups of one digit ("2:0:...") are accepted by the kernel tools; shift-packing above
        // only works for two-digit groups, so reparse that rare form slowly.
        if text.utf8.count != 17 {
            let parts = text.split(whereSeparator: { $0 == ":" || $0 == "-" })
            var w: UInt64 = 0
            for part in parts {
                guard let byte = UInt8(part, radix: 16) else { return nil }
                w = w << 8 | UInt64(byte)
            }
            v = w
        }
        self.value = v
    }

    /// The all-zero address: the VXLAN flood (head-end replication) row.
    public static let zero = MACAddress(value: 0)

    public var isZero: Bool { value == 0 }
    public var isMulticast: Bool { (value >> 40) & 1 == 1 }

    public var bytes: [UInt8] {
        (0..<6).map { UInt8(truncatingIfNeeded: value >> (40 - 8 * UInt64($0))) }
    }

    public var description: String {
        var out = ""
        out.reserveCapacity(17)
        for i in 0..<6 {
            let byte = UInt8(truncatingIfNeeded: value >> (40 - 8 * UInt64(i)))
            if i > 0 { out.append(":") }
            out.append(hexDigit(byte >> 4))
            out.append(hexDigit(byte & 0xF))
        }
        return out
    }

    public static func < (a: MACAddress, b: MACAddress) -> Bool { a.value < b.value }
}

private func hexValue(_ unit: UInt8) -> UInt8? {
    switch unit {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return unit - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return unit - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return unit - UInt8(ascii: "A") + 10
    default: return nil
    }
}

private func hexDigit(_ nibble: UInt8) -> Character {
    Character(Unicode.Scalar(nibble < 10 ? nibble + 48 : nibble + 87))
}
