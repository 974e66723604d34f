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
        case .userEvent:
            m = .userEvent(try body.readUserEvent())
        case .query:
            let time = try body.readLamportTime()
            let id = try body.readSequence()
            let origin = try body.readName()
            let originAddress = try body.readAddress()
            let flags = try body.readFlags(allowed: MessageFlags.wantsAck)
            guard let relay = body.readInteger(as: UInt8.self) else { throw .truncated }
            let timeout = try body.readVarint()
            let filters = try body.readFilters()
            let name = try body.readName()
            let payload = try body.readPayload()
            m = .query(
                QueryMessage(
                    time: time, id: id, origin: origin, originAddress: originAddress,
                    wantsAck: flags & MessageFlags.wantsAck != 0, relayFactor: relay, timeoutMilliseconds: timeout,
                    filters: filters, name: name, payload: payload))
        case .queryResponse:
            m = .queryResponse(try body.readQueryResponse())
        case .relay:
            m = .relay(QueryRelay(response: try body.readQueryResponse()))
        case .stateRow:
            m = .stateRow(try body.readStateRow())
        case .stateNewest:
            let owner = try body.readName()
            m = .stateNewest(StateNewest(owner: owner, version: try body.readIncarnation()))
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

    mutating func readLamportTime() throws(WireError) -> UInt64 {
        let v = try readVarint()
        if !LamportClock.admits(v) { throw .lamportTimeOutOfRange(v) }
        return v
    }

    mutating func readPayload() throws(WireError) -> [UInt8] {
        let n = try readVarint()
        if n > UInt64(Limits.maxPayloadSize) { throw .payloadTooLarge(Int(clamping: n)) }
        guard let bytes = readBytes(length: Int(n)) else { throw .truncated }
        return bytes
    }

    mutating func readUserEvent() throws(WireError) -> UserEvent {
        let time = try readLamportTime()
        let origin = try readName()
        let name = try readName()
        let payload = try readPayload()
        let flags = try readFlags(allowed: MessageFlags.coalesce)
        return UserEvent(time: time, origin: origin, name: name, payload: payload, coalesce: flags & MessageFlags.coalesce != 0)
    }

    /// A state row as `FieldSink.stateRow` writes it. Versions share the incarnation ceiling;
    /// a tombstone carries no value.
    mutating func readStateRow() throws(WireError) -> StateRow {
        let table = try readName()
        let owner = try readName()
        let key = try readWireString(maxLength: Limits.maxStateKeyLength) { .nameTooLong(Int(clamping: $0)) }
        let version = try readIncarnation()
        let flags = try readFlags(allowed: MessageFlags.deleted)
        let value = try readPayload()
        let deleted = flags & MessageFlags.deleted != 0
        if deleted, !value.isEmpty { throw .bodyLengthMismatch }
        return StateRow(table: table, owner: owner, key: key, version: version, deleted: deleted, value: value)
    }

    mutating func readQueryResponse() throws(WireError) -> QueryResponse {
        let time = try readLamportTime()
        let id = try readSequence()
        let origin = try readName()
        let from = try readName()
        let flags = try readFlags(allowed: MessageFlags.isAck)
        let payload = try readPayload()
        return QueryResponse(time: time, id: id, origin: origin, from: from, isAck: flags & MessageFlags.isAck != 0, payload: payload)
    }

    /// Filters as `FieldSink.filters` writes them; each tag pattern is compiled here, so a
    /// pattern that does not compile (or would run too long) never reaches the core.
    mutating func readFilters() throws(WireError) -> [QueryFilter] {
        let count = try readVarint()
        if count > UInt64(Limits.maxQueryFilters) { throw .invalidFilter }
        var filters: [QueryFilter] = []
        for _ in 0..<Int(count) {
            guard let kind = readInteger(as: UInt8.self) else { throw .truncated }
            switch kind {
            case 0:
                let n = try readVarint()
                if n > UInt64(Limits.maxFilterNodes) { throw .invalidFilter }
                var names: [String] = []
                for _ in 0..<Int(n) { names.append(try readName()) }
                filters.append(.nodes(names))
            case 1:
                let key = try readWireString(maxLength: WireLimits.maxTagStringLength) { _ in .tagsTooLarge }
                let source = try readWireString(maxLength: FilterPattern.maxLength) { _ in .invalidFilter }
                guard let pattern = try? FilterPattern(source) else { throw .invalidFilter }
                filters.append(.tag(key: key, pattern: pattern))
            default:
                throw .invalidFilter
            }
        }
        return filters
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
