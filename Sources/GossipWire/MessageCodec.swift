public import GossipCore
public import NIOCore

/// Bodies of the datagram messages, field by field in the order Docs/WIRE-FORMAT.md gives.
extension ByteBuffer {
    /// Appends the message's body alone (no type byte, no length): exactly `m.bodySize` bytes.
    public mutating func writeMessageBody(_ m: Message) {
        writeRaw(size: m.bodySize) { m.writeBody(into: &$0) }
    }

    /// Appends `[type][varint body length][body]`: exactly `m.encodedSize` bytes.
    @discardableResult
    public mutating func writeFramedMessage(_ m: Message) -> Int {
        let bodySize = m.bodySize
        let size = WireSize.framed(body: bodySize)
        writeRaw(size: size) { w in
            w.byte(m.type.rawValue)
            w.varint(UInt64(bodySize))
            m.writeBody(into: &w)
        }
        return size
    }

    /// Writes exactly `size` bytes in one reservation, through `RawWriter`, which checks every
    /// store against `size`; ending short is as much a broken layout as running over.
    mutating func writeRaw(size: Int, _ fill: (inout RawWriter) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            guard let base = raw.baseAddress else { return 0 }
            var w = RawWriter(base, capacity: size)
            fill(&w)
            precondition(w.offset == size, "RawWriter: the layout wrote \(w.offset) bytes of \(size) reserved")
            return size
        }
    }

    /// Decodes one body of a known datagram type; the whole buffer must be that body.
    static func decodeMessageBody(type: MessageType, _ body: inout ByteBuffer) throws(WireError) -> Message {
        let m: Message
        switch type {
        case .ping:
            let sequence = try body.readSequence()
            let target = try body.readName()
            let source = try body.readName()
            let address = try body.readAddress()
            m = .ping(Ping(sequence: sequence, target: target, source: source, sourceAddress: address))
        case .indirectPing:
            let sequence = try body.readSequence()
            let target = try body.readName()
            let targetAddress = try body.readAddress()
            let requester = try body.readName()
            let requesterAddress = try body.readAddress()
            let flags = try body.readFlags(allowed: MessageFlags.wantsNack)
            m = .indirectPing(
                IndirectPing(
                    sequence: sequence, target: target, targetAddress: targetAddress, requester: requester,
                    requesterAddress: requesterAddress, wantsNack: flags & MessageFlags.wantsNack != 0))
        case .ack:
            m = .ack(Ack(sequence: try body.readSequence()))
        case .nack:
            m = .nack(Nack(sequence: try body.readSequence()))
        case .alive:
            let incarnation = try body.readIncarnation()
            let name = try body.readName()
            let address = try body.readAddress()
            let tags = try body.readTags()
            m = .alive(Alive(incarnation: incarnation, name: name, address: address, tags: tags))
        case .suspect:
            let incarnation = try body.readIncarnation()
            let name = try body.readName()
            let from = try body.readName()
            m = .suspect(Suspect(incarnation: incarnation, name: name, from: from))
        case .dead:
            let incarnation = try body.readIncarnation()
            let name = try body.readName()
            let from = try body.readName()
            let flags = try body.readFlags(allowed: MessageFlags.left)
            m = .dead(Dead(incarnation: incarnation, name: name, from: from, left: flags & MessageFlags.left != 0))
        case .pushPull:
            throw .unexpectedType(type.rawValue)
        }
        if body.readableBytes != 0 { throw .bodyLengthMismatch }
        return m
    }

    /// Incarnations are refused above `Limits.maxIncarnation` as they enter, so that no
    /// arithmetic on them can overflow anywhere behind the decoder.
    mutating func readIncarnation() throws(WireError) -> UInt64 {
        let v = try readVarint()
        if v > Limits.maxIncarnation { throw .incarnationOutOfRange(v) }
        return v
    }

    mutating func readSequence() throws(WireError) -> UInt32 {
        UInt32(truncatingIfNeeded: try readVarint(max: UInt64(UInt32.max)))
    }

    mutating func readFlags(allowed: UInt8) throws(WireError) -> UInt8 {
        guard let flags = readInteger(as: UInt8.self) else { throw .truncated }
        if flags & ~allowed != 0 { throw .invalidMessageFlags(flags) }
        return flags
    }
}
