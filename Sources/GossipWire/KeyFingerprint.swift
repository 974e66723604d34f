/// A key's public name for listings, logs and the key queries: 8 bytes of a BLAKE2b hash keyed
/// with the key itself (`SecretKey.fingerprint`), printed as 16 lowercase hex digits. Knowing it
/// reveals nothing about the key, so a listing can travel and be printed where the key must not.
public struct KeyFingerprint: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Bytes on the wire.
    public static let size = 8
    /// The 8 hash bytes read as a big-endian integer.
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Parses the printed form: exactly 16 hex digits, either case; nil otherwise.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 2 * Self.size else { return nil }
        var v: UInt64 = 0
        for c in hex.utf8 {
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            v = v << 4 | UInt64(digit)
        }
        rawValue = v
    }

    public static func < (a: KeyFingerprint, b: KeyFingerprint) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: 2 * Self.size)
        for i in out.indices { out[i] = hex[Int(rawValue >> UInt64(60 - 4 * i) & 0xf)] }
        return String(decoding: out, as: UTF8.self)
    }
}
