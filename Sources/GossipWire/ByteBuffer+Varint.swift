public import NIOCore

extension ByteBuffer {
    /// Appends `value` as an unsigned LEB128 varint (7 bits per byte, low groups first).
    @inlinable
    public mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        writeInteger(UInt8(truncatingIfNeeded: v))
    }

    /// Reads a canonical LEB128 varint no larger than `max`.
    ///
    /// Overlong forms (a final zero group) are refused: with one encoding per value, the size
    /// the core predicts for a message is the size a decoded-and-re-encoded message has.
    public mutating func readVarint(max: UInt64 = .max) throws(WireError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var count = 0
        while true {
            guard let byte = readInteger(as: UInt8.self) else { throw .truncated }
            count += 1
            let group = UInt64(byte & 0x7f)
            // The tenth byte holds only the top bit of a 64-bit value.
            if shift == 63 && group > 1 { throw .varintOverflow }
            result |= group << shift
            if byte & 0x80 == 0 {
                if byte == 0 && count > 1 { throw .nonCanonicalVarint }
                if result > max { throw .varintOverflow }
                return result
            }
            shift += 7
            if shift > 63 { throw .varintOverflow }
        }
    }
}
