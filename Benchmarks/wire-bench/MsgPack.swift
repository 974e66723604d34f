/// Just enough MessagePack to encode memberlist's `alive` message the way memberlist does,
/// so that the baseline is computed from real bytes, not from a guess.
struct MsgPack {
    var bytes: [UInt8] = []

    /// memberlist encodes with go-msgpack's default `MsgpackHandle`, whose `WriteExt` is false:
    /// `[]byte` fields then go out in the raw/str format (1-byte header up to 31 bytes). With
    /// `bin` true they use the bin8 format (2-byte header) instead; both are reported.
    var bytesAsBin: Bool

    init(bytesAsBin: Bool) { self.bytesAsBin = bytesAsBin }

    mutating func map(_ count: Int) {
        precondition(count <= 15)
        bytes.append(0x80 | UInt8(count))
    }

    private mutating func strHeader(_ n: Int) {
        switch n {
        case 0...31: bytes.append(0xa0 | UInt8(n))
        case 32...255: bytes += [0xd9, UInt8(n)]
        default: bytes += [0xda, UInt8(n >> 8), UInt8(n & 0xff)]
        }
    }

    mutating func str(_ s: String) {
        strHeader(s.utf8.count)
        bytes += s.utf8
    }

    mutating func bin(_ b: [UInt8]) {
        if bytesAsBin {
            precondition(b.count <= 255)
            bytes += [0xc4, UInt8(b.count)]
        } else {
            strHeader(b.count)
        }
        bytes += b
    }

    mutating func uint(_ v: UInt64) {
        switch v {
        case 0...127: bytes.append(UInt8(v))
        case 128...255: bytes += [0xcc, UInt8(v)]
        case 256...65535: bytes += [0xcd, UInt8(v >> 8), UInt8(v & 0xff)]
        case 65536...0xffff_ffff: bytes += [0xce] + (0..<4).map { UInt8(v >> (24 - 8 * UInt64($0)) & 0xff) }
        default: bytes += [0xcf] + (0..<8).map { UInt8(v >> (56 - 8 * UInt64($0)) & 0xff) }
        }
    }
}

/// memberlist's framing constants (memberlist net.go / security.go, encryption version 1).
enum Memberlist {
    /// One message-type byte in front of every msgpack body.
    static let messageTypeByte = 1
    /// compoundMsg type byte + message count byte.
    static let compoundHeader = 2
    /// A big-endian u16 length per part of a compound.
    static let compoundPartOverhead = 2
    /// A compound holds at most 255 parts (the count is one byte).
    static let maxParts = 255
    /// Encryption version byte + 12-byte AES-GCM nonce + 16-byte GCM tag.
    static let encryptionOverhead = 1 + 12 + 16

    /// The msgpack of memberlist's `alive` struct (fields in Go declaration order), as memberlist
    /// gossips it. `meta` is what Serf puts there: 0xff and a msgpack map of the tags.
    static func alive(incarnation: UInt32, node: String, addr: [UInt8], port: UInt16, tags: [(String, String)], bin: Bool)
        -> [UInt8]
    {
        var m = MsgPack(bytesAsBin: bin)
        m.map(6)
        m.str("Incarnation")
        m.uint(UInt64(incarnation))
        m.str("Node")
        m.str(node)
        m.str("Addr")
        m.bin(addr)
        m.str("Port")
        m.uint(UInt64(port))
        m.str("Meta")
        var meta: [UInt8] = []
        if !tags.isEmpty {
            var t = MsgPack(bytesAsBin: bin)
            t.map(tags.count)
            for (k, v) in tags {
                t.str(k)
                t.str(v)
            }
            meta = [0xff] + t.bytes
        }
        m.bin(meta)
        m.str("Vsn")
        // pmin, pmax, pcur, dmin, dmax, dcur
        m.bin([1, 5, 2, 2, 5, 4])
        return m.bytes
    }
}
