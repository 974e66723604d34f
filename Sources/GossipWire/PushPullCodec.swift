public import GossipCore
public import NIOCore

extension ByteBuffer {
    /// Appends a push/pull body: flags, sender, sender address, section count, sections.
    public mutating func writePushPullBody(_ p: PushPull) {
        writeRaw(size: p.bodySize) { p.writeBody(into: &$0) }
    }

    /// Appends `[type 8][varint body length][body]`.
    @discardableResult
    public mutating func writeFramedStreamMessage(_ m: StreamMessage) -> Int {
        let bodySize = m.bodySize
        let size = WireSize.framed(body: bodySize)
        writeRaw(size: size) { w in
            w.byte(m.type.rawValue)
            w.varint(UInt64(bodySize))
            m.writeBody(into: &w)
        }
        return size
    }

    static func decodePushPullBody(_ body: inout ByteBuffer) throws(WireError) -> PushPull {
        let flags = try body.readFlags(allowed: MessageFlags.join | MessageFlags.isReply | MessageFlags.more)
        let sender = try body.readName()
        let senderAddress = try body.readAddress()
        let count = try body.readVarint()
        // Every section takes two bytes at least (type and length): a count is trusted only as
        // far as the bytes present could hold that many.
        if count > UInt64(body.readableBytes / 2) { throw .countTooLarge(count) }
        var sections: [PushPullSection] = []
        sections.reserveCapacity(Int(count))
        for _ in 0..<Int(count) {
            let type = try body.readVarint()
            let length = try body.readVarint()
            guard length <= UInt64(body.readableBytes), var section = body.readSlice(length: Int(length)) else {
                throw .truncated
            }
            switch SectionType(rawValue: type) {
            case .members:
                sections.append(.members(try section.readMembersSection()))
            case .events:
                sections.append(.events(try section.readEventsSection()))
            case .stateDigest:
                sections.append(.stateDigest(try section.readStateDigestSection()))
            case .stateRows:
                sections.append(.stateRows(try section.readStateRowsSection()))
            case nil:
                // A newer node's section: skipped whole, and counted by whoever merges.
                sections.append(.unknown(type: type))
            }
        }
        if body.readableBytes != 0 { throw .bodyLengthMismatch }
        return PushPull(
            join: flags & MessageFlags.join != 0, isReply: flags & MessageFlags.isReply != 0,
            more: flags & MessageFlags.more != 0, sender: sender, senderAddress: senderAddress, sections: sections)
    }

    /// An events section filling the whole buffer: both clocks, a count, then user events.
    mutating func readEventsSection() throws(WireError) -> EventsSection {
        let eventClock = try readLamportTime()
        let queryClock = try readLamportTime()
        let count = try readVarint()
        // An event takes five bytes at least (time, origin, name, payload length, flags).
        if count > UInt64(readableBytes / 5) { throw .countTooLarge(count) }
        var events: [UserEvent] = []
        events.reserveCapacity(Int(count))
        for _ in 0..<Int(count) { events.append(try readUserEvent()) }
        if readableBytes != 0 { throw .bodyLengthMismatch }
        return EventsSection(eventClock: eventClock, queryClock: queryClock, events: events)
    }

    /// A digest section filling the whole buffer: a count, then (owner, hash, newest version).
    mutating func readStateDigestSection() throws(WireError) -> [OwnerDigest] {
        let count = try readVarint()
        // An entry takes three bytes at least (owner length, hash, newest).
        if count > UInt64(readableBytes / 3) { throw .countTooLarge(count) }
        var entries: [OwnerDigest] = []
        entries.reserveCapacity(Int(count))
        for _ in 0..<Int(count) {
            let owner = try readName()
            let hash = try readVarint()
            entries.append(OwnerDigest(owner: owner, hash: hash, newest: try readIncarnation()))
        }
        if readableBytes != 0 { throw .bodyLengthMismatch }
        return entries
    }

    /// A rows section filling the whole buffer: a count, then state rows.
    mutating func readStateRowsSection() throws(WireError) -> [StateRow] {
        let count = try readVarint()
        // A row takes six bytes at least (three lengths, version, flags, value length).
        if count > UInt64(readableBytes / 6) { throw .countTooLarge(count) }
        var rows: [StateRow] = []
        rows.reserveCapacity(Int(count))
        for _ in 0..<Int(count) { rows.append(try readStateRow()) }
        if readableBytes != 0 { throw .bodyLengthMismatch }
        return rows
    }

    /// A members section filling the whole buffer: count, then member states.
    mutating func readMembersSection() throws(WireError) -> [MemberState] {
        let count = try readVarint()
        // A count is trusted only as far as the bytes present could hold that many members.
        if count > UInt64(readableBytes / WireLimits.smallestMemberState) { throw .countTooLarge(count) }
        var members: [MemberState] = []
        members.reserveCapacity(Int(count))
        for _ in 0..<Int(count) { members.append(try readMemberState()) }
        if readableBytes != 0 { throw .bodyLengthMismatch }
        return members
    }
}
