/// How overlay rows ride in the `Gossip` library's replicated state: all in one table, each
/// row's key its `key` bytes as lowercase hexadecimal (replicated-state keys are printable text;
/// `01` for the host row, `02` + VNI + MAC for an endpoint, 20 characters). Exactly one text
/// per key: upper case, odd lengths and other characters are refused.
extension OverlayRow {
    /// The replicated-state table every host writes its overlay rows to.
    public static let table = "overlay"

    /// `key` as a replicated-state key.
    public var stateKey: String { Self.stateKey(key) }

    public static func stateKey(_ key: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(key.count * 2)
        for b in key {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes one replicated row of `owner` from table `OverlayRow.table`.
    /// - Throws: `OverlayRowError.badKey` for a key that is not canonical hexadecimal, else
    ///   whatever `init(key:value:owner:)` throws.
    public init(stateKey: String, value: [UInt8], owner: String) throws(OverlayRowError) {
        let text = Array(stateKey.utf8)
        guard !text.isEmpty, text.count % 2 == 0 else { throw .badKey }
        var key: [UInt8] = []
        key.reserveCapacity(text.count / 2)
        var i = 0
        while i < text.count {
            guard let hi = Self.nibble(text[i]), let lo = Self.nibble(text[i + 1]) else { throw .badKey }
            key.append(hi << 4 | lo)
            i += 2
        }
        try self.init(key: key, value: value, owner: owner)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

extension Replica {
    /// Adds one replicated row of `owner` (table `OverlayRow.table`), decoded; `live` is the
    /// owner's availability in the replicated state.
    /// - Throws: `OverlayRowError` for a row no host would accept; the replica is unchanged.
    public mutating func add(stateKey: String, value: [UInt8], owner: String, live: Bool) throws(OverlayRowError) {
        add(try OverlayRow(stateKey: stateKey, value: value, owner: owner), owner: owner, live: live)
    }
}
