public import NIOCore

extension DNSMessage {
    /// Decodes the whole readable part of `buffer` as one message (the buffer is not moved).
    /// Strict: every count must be met, no byte may follow the last record, names are
    /// checked against `DNSLimits`, and a compression pointer must point strictly backwards
    /// to where an earlier label began, so a name cannot loop and decoding is linear in the
    /// message's size.
    /// - Throws: `DNSError`, whatever the bytes hold.
    public static func decode(_ buffer: ByteBuffer) throws(DNSError) -> DNSMessage {
        guard buffer.readableBytes <= DNSLimits.maxMessage else { throw .tooLarge(buffer.readableBytes) }
        var r = DNSReader(buffer)
        let id = try r.u16()
        let flags = DNSFlags(raw: try r.u16())
        let counts = [Int(try r.u16()), Int(try r.u16()), Int(try r.u16()), Int(try r.u16())]
        // A question needs at least 5 bytes, a record 11: a count the rest cannot hold is
        // refused before anything is reserved for it.
        let rest = r.remaining
        guard counts[0] * 5 + (counts[1] + counts[2] + counts[3]) * 11 <= rest else {
            throw .badCount(counts.reduce(0, +))
        }
        for c in counts where c > DNSLimits.maxRecords { throw .badCount(c) }
        var questions: [DNSQuestion] = []
        questions.reserveCapacity(counts[0])
        for _ in 0..<counts[0] {
            let name = try r.name()
            questions.append(DNSQuestion(name: name, type: try r.u16(), recordClass: try r.u16()))
        }
        let answers = try r.records(counts[1])
        let authorities = try r.records(counts[2])
        let additionals = try r.records(counts[3])
        guard r.remaining == 0 else { throw .trailingBytes(r.remaining) }
        return DNSMessage(id: id, flags: flags, questions: questions, answers: answers,
                          authorities: authorities, additionals: additionals)
    }

    /// The ID and flags of a message too damaged to decode, to answer it with an error; nil
    /// when even the header is incomplete.
    public static func header(of buffer: ByteBuffer) -> (id: UInt16, flags: DNSFlags)? {
        guard buffer.readableBytes >= headerSize,
              let id = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
              let raw = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt16.self) else { return nil }
        return (id, DNSFlags(raw: raw))
    }
}

/// Reads fields off a message by offset from its first byte; every read is bounds-checked.
struct DNSReader {
    let buffer: ByteBuffer
    let base: Int
    let count: Int
    var offset = 0

    init(_ buffer: ByteBuffer) {
        self.buffer = buffer
        self.base = buffer.readerIndex
        self.count = buffer.readableBytes
    }

    var remaining: Int { count - offset }

    func byte(at position: Int) throws(DNSError) -> UInt8 {
        guard position >= 0, position < count, let b = buffer.getInteger(at: base + position, as: UInt8.self) else {
            throw .truncated
        }
        return b
    }

    mutating func u8() throws(DNSError) -> UInt8 {
        let b = try byte(at: offset)
        offset += 1
        return b
    }

    mutating func u16() throws(DNSError) -> UInt16 { UInt16(try u8()) << 8 | UInt16(try u8()) }

    mutating func u32() throws(DNSError) -> UInt32 { UInt32(try u16()) << 16 | UInt32(try u16()) }

    func bytes(at position: Int, _ length: Int) throws(DNSError) -> [UInt8] {
        guard length >= 0, position >= 0, position <= count - length,
              let out = buffer.getBytes(at: base + position, length: length) else { throw .truncated }
        return out
    }

    /// A name at the cursor, following pointers. Each pointer must point below the start of
    /// the label run it was reached from, so the positions visited strictly decrease at every
    /// jump: no loop, and at most one jump per earlier byte. The wire length is counted over
    /// the labels collected, so a name grown through pointers is held to 255 bytes too.
    mutating func name() throws(DNSError) -> DNSName {
        var labels: [[UInt8]] = []
        var wire = 1
        var position = offset
        // Where the run of labels being read began: a pointer must point below it.
        var runStart = offset
        var jumped = false
        while true {
            let length = try byte(at: position)
            switch length >> 6 {
            case 0:
                if length == 0 {
                    if !jumped { offset = position + 1 }
                    return DNSName(unchecked: labels)
                }
                wire += 1 + Int(length)
                guard wire <= DNSLimits.maxName else { throw .nameTooLong }
                labels.append(try bytes(at: position + 1, Int(length)))
                position += 1 + Int(length)
            case 3:
                let target = Int(length & 0x3F) << 8 | Int(try byte(at: position + 1))
                guard target < runStart else { throw .badPointer(target) }
                if !jumped { offset = position + 2 }
                jumped = true
                position = target
                runStart = target
            default:
                throw .badLabelType(length)
            }
        }
    }

    mutating func records(_ n: Int) throws(DNSError) -> [DNSRecord] {
        var out: [DNSRecord] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            let name = try name()
            let type = try u16()
            let recordClass = try u16()
            let ttl = try u32()
            let length = Int(try u16())
            guard length <= remaining else { throw .badDataLength(length) }
            let data = try bytes(at: offset, length)
            offset += length
            out.append(DNSRecord(name: name, type: type, recordClass: recordClass, ttl: ttl, data: data))
        }
        return out
    }
}
