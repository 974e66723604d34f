import GossipCore

/// Writes fields straight into memory already reserved for them. Encoding a message through
/// one `ByteBuffer.writeWithUnsafeMutableBytes` call, instead of one ByteBuffer write per field,
/// avoids a capacity check and an exclusivity check per field (most of the encode time).
///
/// The reservation comes from the same layout (`writeBody(into:)` counted by `SizeCounter`),
/// so the two agree; the capacity is still checked before every store, because a mismatch
/// would otherwise write past the buffer in a release build. That check guards an internal
/// invariant, never input, so a precondition is right.
struct RawWriter: FieldSink {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    var offset = 0

    init(_ base: UnsafeMutableRawPointer, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    @inline(__always)
    private func reserve(_ n: Int) {
        precondition(offset + n <= capacity, "RawWriter: the layout wrote past its reserved size \(capacity)")
    }

    mutating func byte(_ b: UInt8) {
        reserve(1)
        base.storeBytes(of: b, toByteOffset: offset, as: UInt8.self)
        offset += 1
    }

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            byte(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        byte(UInt8(truncatingIfNeeded: v))
    }

    mutating func bigEndian<T: FixedWidthInteger>(_ v: T) {
        reserve(MemoryLayout<T>.size)
        base.storeBytes(of: v.bigEndian, toByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
    }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            reserve(utf8.count)
            if let p = utf8.baseAddress {
                (base + offset).copyMemory(from: p, byteCount: utf8.count)
            }
            offset += utf8.count
        }
    }

    mutating func bytes(_ value: [UInt8]) {
        varint(UInt64(value.count))
        reserve(value.count)
        value.withUnsafeBytes { raw in
            if let p = raw.baseAddress { (base + offset).copyMemory(from: p, byteCount: raw.count) }
        }
        offset += value.count
    }

    mutating func address(_ a: Address) {
        byte(a.family.rawValue)
        switch a.family {
        case .v4: bigEndian(UInt32(truncatingIfNeeded: a.low))
        case .v6:
            bigEndian(a.high)
            bigEndian(a.low)
        }
        bigEndian(a.port)
    }
}
