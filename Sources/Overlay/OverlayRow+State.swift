import Addresses

/// How overlay rows ride in the `Gossip` library's replicated state: all in one table, each
/// row's key its `key` bytes as lowercase hexadecimal (replicated-state keys are printable text;
/// `01` for the host row, `02` + VNI + MAC for an endpoint, 20 characters; `03` + VNI for a
/// network definition, 8; `04` + VNI + block index for a block claim, 16; `05` (`06` for an IPv6 pool) + VNI +
/// incarnation for an allocator row, 16). Exactly one text
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
        try self.init(key: try Self.keyBytes(stateKey), value: value, owner: owner)
    }

    /// The key bytes a replicated-state key stands for.
    /// - Throws: `OverlayRowError.badKey` unless it is canonical lowercase hexadecimal.
    static func keyBytes(_ stateKey: String) throws(OverlayRowError) -> [UInt8] {
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
        return key
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

    /// Removes the row of `owner` under `stateKey` (deleted by its owner, or withdrawn when the
    /// owner left): its host row, one of its endpoints, its copy of a network's definition, or
    /// its claim on a block.
    /// - Throws: `OverlayRowError` for a key that names no overlay row (`truncated` for one of
    ///   the wrong length, since a longer one is no key either); the replica is unchanged.
    public mutating func remove(stateKey: String, owner: String) throws(OverlayRowError) {
        let key = try OverlayRow.keyBytes(stateKey)
        // The VNI is 3 bytes after the kind; every key is 1 byte or at least 4, checked below
        // before this is called.
        func vni() throws(OverlayRowError) -> VNI {
            let raw = UInt32(key[1]) << 16 | UInt32(key[2]) << 8 | UInt32(key[3])
            guard let vni = VNI(raw) else { throw .badVNI(raw) }
            return vni
        }
        switch (key.first.flatMap(RowKind.init(rawValue:)), key.count) {
        case (.host, 1):
            hosts[owner] = nil
        case (.endpoint, 10):
            let mac = MACAddress(value: key[4...].reduce(0) { $0 << 8 | UInt64($1) })
            removeEndpoint(owner: owner, network: try vni(), mac: mac)
        case (.network, 4):
            removeNetwork(owner: owner, vni: try vni())
        case (.block, 8):
            let index = key[4...].reduce(0) { $0 << 8 | UInt32($1) }
            removeBlock(owner: owner, vni: try vni(), index: index)
        case (.allocator, 8), (.allocator6, 8):
            // Kept by the allocator owner only (see `Replica.add`).
            break
        case (_?, _):
            throw .truncated
        case (nil, _):
            throw .unknownKind(key.first ?? 0)
        }
    }

    /// Marks every row of `owner` live or not (its availability in the replicated state).
    public mutating func setLive(_ live: Bool, owner: String) {
        hosts[owner]?.live = live
    }
}
