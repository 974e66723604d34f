import GossipCore

/// Writes fields straight into memory already reserved for them. Encoding a message through
/// one `ByteBuffer.writeWithUnsafeMutableBytes` call, instead of one ByteBuffer write per field,
/// avoids a capacity check and an exclusivity check per field (most of the encode time).
struct RawWriter {
    let base: UnsafeMutableRawPointer
    var offset = 0

    init(_ base: UnsafeMutableRawPointer) { self.base = base }

    mutating func byte(_ b: UInt8) {
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
        base.storeBytes(of: v.bigEndian, toByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
    }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            if let p = utf8.baseAddress {
                (base + offset).copyMemory(from: p, byteCount: utf8.count)
            }
            offset += utf8.count
        }
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

    mutating func tags(_ t: Tags) {
        varint(UInt64(t.count))
        for (k, v) in t {
            string(k)
            string(v)
        }
    }

    mutating func body(_ m: Message) {
        switch m {
        case .ping(let p):
            varint(UInt64(p.sequence))
            string(p.target)
            string(p.source)
            address(p.sourceAddress)
        case .indirectPing(let p):
            varint(UInt64(p.sequence))
            string(p.target)
            address(p.targetAddress)
            string(p.requester)
            address(p.requesterAddress)
            byte(p.wantsNack ? MessageFlags.wantsNack : 0)
        case .ack(let a):
            varint(UInt64(a.sequence))
        case .nack(let n):
            varint(UInt64(n.sequence))
        case .alive(let a):
            varint(a.incarnation)
            string(a.name)
            address(a.address)
            tags(a.tags)
        case .suspect(let s):
            varint(s.incarnation)
            string(s.name)
            string(s.from)
        case .dead(let d):
            varint(d.incarnation)
            string(d.name)
            string(d.from)
            byte(d.left ? MessageFlags.left : 0)
        }
    }
}
