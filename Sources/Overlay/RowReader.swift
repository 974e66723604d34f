import Addresses

/// Reads big-endian fields off a byte collection, throwing `truncated` instead of trapping.
struct RowReader<C: Collection<UInt8>> {
    let bytes: C
    var index: C.Index

    init(_ bytes: C) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    var isAtEnd: Bool { index == bytes.endIndex }

    mutating func u8() throws(OverlayRowError) -> UInt8 {
        guard index != bytes.endIndex else { throw .truncated }
        defer { bytes.formIndex(after: &index) }
        return bytes[index]
    }

    mutating func uint(_ count: Int) throws(OverlayRowError) -> UInt64 {
        var v: UInt64 = 0
        for _ in 0..<count { v = v << 8 | UInt64(try u8()) }
        return v
    }

    mutating func u16() throws(OverlayRowError) -> UInt16 { UInt16(try uint(2)) }
    mutating func u32() throws(OverlayRowError) -> UInt32 { UInt32(try uint(4)) }
    mutating func u64() throws(OverlayRowError) -> UInt64 { try uint(8) }

    mutating func vni() throws(OverlayRowError) -> VNI {
        let raw = UInt32(try uint(3))
        guard let vni = VNI(raw) else { throw .badVNI(raw) }
        return vni
    }

    mutating func mac() throws(OverlayRowError) -> MACAddress { MACAddress(value: try uint(6)) }

    mutating func ip() throws(OverlayRowError) -> IPAddress {
        switch try u8() {
        case 4: return .v4(try u32())
        case 6: return .v6(try u64(), try u64())
        case let f: throw .badAddressFamily(f)
        }
    }

    /// A `u8` length and that many bytes of UTF-8, at least one.
    mutating func text() throws(OverlayRowError) -> String {
        let length = Int(try u8())
        let bytes = try bytes(length)
        guard length > 0, let text = String(validating: bytes, as: UTF8.self) else { throw .badName }
        return text
    }

    /// A subnet's base (4 or 16 bytes, as `v4` says) and `u8` prefix; a base with host bits set
    /// or a prefix past the family's width is refused here, since it makes no `Subnet`.
    mutating func subnet(v4: Bool) throws(OverlayRowError) -> Subnet {
        let base: IPAddress = v4 ? .v4(try u32()) : .v6(try u64(), try u64())
        let prefix = Int(try u8())
        do {
            return try Subnet(base: base, prefix: prefix)
        } catch {
            throw .badSubnet("\(base)/\(prefix)")
        }
    }

    /// Everything not read yet, which is then read.
    mutating func rest() -> C.SubSequence {
        defer { index = bytes.endIndex }
        return bytes[index...]
    }

    mutating func bytes(_ count: Int) throws(OverlayRowError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(try u8()) }
        return out
    }
}
