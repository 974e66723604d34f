public import NIOCore

extension DNSMessage {
    /// Writes the message with name compression: a name's longest suffix already written
    /// becomes a pointer. Suffixes match byte for byte, case included, so a decoded message
    /// encodes back to one that decodes equal.
    /// - Throws: `DNSError.badCount` for a section over `DNSLimits.maxRecords`,
    ///   `.badDataLength` for record data over 65,535 bytes, `.tooLarge` when the message
    ///   would pass `DNSLimits.maxMessage`; nothing is written then.
    public func encode(into buffer: inout ByteBuffer) throws(DNSError) {
        for section in [questions.count, answers.count, authorities.count, additionals.count]
        where section > DNSLimits.maxRecords {
            throw .badCount(section)
        }
        for record in answers + authorities + additionals where record.data.count > 0xFFFF {
            throw .badDataLength(record.data.count)
        }
        var w = DNSWriter()
        w.u16(id)
        w.u16(flags.raw)
        w.u16(UInt16(questions.count))
        w.u16(UInt16(answers.count))
        w.u16(UInt16(authorities.count))
        w.u16(UInt16(additionals.count))
        for q in questions {
            w.name(q.name)
            w.u16(q.type)
            w.u16(q.recordClass)
        }
        for record in answers + authorities + additionals {
            w.name(record.name)
            w.u16(record.type)
            w.u16(record.recordClass)
            w.u32(record.ttl)
            w.u16(UInt16(record.data.count))
            w.bytes += record.data
        }
        guard w.bytes.count <= DNSLimits.maxMessage else { throw .tooLarge(w.bytes.count) }
        buffer.writeBytes(w.bytes)
    }

    /// The encoded size (what `encode` writes).
    public func encodedSize() throws(DNSError) -> Int {
        var b = ByteBuffer()
        try encode(into: &b)
        return b.readableBytes
    }
}

struct DNSWriter {
    var bytes: [UInt8] = []
    /// Name suffix → where it was written (only below 0x4000, what a pointer reaches).
    var written: [DNSName: Int] = [:]

    mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(truncatingIfNeeded: v)) }
    mutating func u32(_ v: UInt32) { u16(UInt16(v >> 16)); u16(UInt16(truncatingIfNeeded: v)) }

    mutating func name(_ name: DNSName) {
        let labels = name.labels
        for i in 0..<name.labels.count {
            let suffix = DNSName(unchecked: Array(labels[i...]))
            if let at = written[suffix] {
                u16(0xC000 | UInt16(at))
                return
            }
            if bytes.count < 0x4000 { written[suffix] = bytes.count }
            bytes.append(UInt8(name.labels[i].count))
            bytes += name.labels[i]
        }
        bytes.append(0)
    }
}
