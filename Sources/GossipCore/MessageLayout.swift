/// Receives a message's fields in wire order. Each message's layout is written once, in
/// `writeBody(into:)`; the size the core budgets with (`SizeCounter`) and the bytes the codec
/// writes (`GossipWire`'s `RawWriter`) both come from that one description, so they cannot
/// disagree. The decoders (`GossipWire`) mirror it field by field, and the round-trip tests hold
/// them to it. Docs/WIRE-FORMAT.md gives the same layouts in a table.
public protocol FieldSink {
    /// An unsigned LEB128 varint: 7 bits per byte, low groups first.
    mutating func varint(_ value: UInt64)
    mutating func byte(_ value: UInt8)
    /// A varint length, then the UTF-8 bytes.
    mutating func string(_ value: String)
    /// A family byte (4 or 6), 4 or 16 address bytes and a big-endian port.
    mutating func address(_ value: Address)
    /// A varint length, then the bytes.
    mutating func bytes(_ value: [UInt8])
}

extension FieldSink {
    /// A varint count, then each key and value; keys in increasing order (`Tags` keeps them so).
    @inlinable
    public mutating func tags(_ t: Tags) {
        varint(UInt64(t.count))
        for (k, v) in t {
            string(k)
            string(v)
        }
    }

    /// A varint count, then each filter: kind 0 and a varint count of names, or kind 1, the
    /// tag key and the pattern's source.
    @inlinable
    public mutating func filters(_ filters: [QueryFilter]) {
        varint(UInt64(filters.count))
        for f in filters {
            switch f {
            case .nodes(let names):
                byte(0)
                varint(UInt64(names.count))
                for n in names { string(n) }
            case .tag(let key, let pattern):
                byte(1)
                string(key)
                string(pattern.source)
            }
        }
    }

    @inlinable
    public mutating func userEvent(_ e: UserEvent) {
        varint(e.time)
        string(e.origin)
        string(e.name)
        bytes(e.payload)
        byte(e.coalesce ? MessageFlags.coalesce : 0)
    }

    /// Table, owner, key, version, flags (bit 0: deleted), value.
    @inlinable
    public mutating func stateRow(_ r: StateRow) {
        string(r.table)
        string(r.owner)
        string(r.key)
        varint(r.version)
        byte(r.deleted ? MessageFlags.deleted : 0)
        bytes(r.value)
    }

    @inlinable
    public mutating func queryResponse(_ r: QueryResponse) {
        varint(r.time)
        varint(UInt64(r.id))
        string(r.origin)
        string(r.from)
        byte(r.isAck ? MessageFlags.isAck : 0)
        bytes(r.payload)
    }

    @inlinable
    public mutating func memberState(_ m: MemberState) {
        string(m.name)
        address(m.address)
        varint(m.incarnation)
        byte(m.status.rawValue)
        tags(m.tags)
    }
}

/// Counts the bytes a layout takes, without writing them.
public struct SizeCounter: FieldSink {
    public var size = 0

    @inlinable public init() {}
    @inlinable public mutating func varint(_ value: UInt64) { size += WireSize.varint(value) }
    @inlinable public mutating func byte(_ value: UInt8) { size += 1 }
    @inlinable public mutating func string(_ value: String) { size += WireSize.string(value) }
    @inlinable public mutating func address(_ value: Address) { size += WireSize.address(value) }
    @inlinable public mutating func bytes(_ value: [UInt8]) { size += WireSize.varint(UInt64(value.count)) + value.count }
}

/// Flag bits of message bodies. Undefined bits are refused by the decoders, so that a later
/// version can give them a meaning an older receiver must not silently ignore.
public enum MessageFlags {
    public static let wantsNack: UInt8 = 1 << 0
    public static let left: UInt8 = 1 << 0
    public static let join: UInt8 = 1 << 0
    public static let isReply: UInt8 = 1 << 1
    /// Push/pull: more frames of this exchange follow.
    public static let more: UInt8 = 1 << 2
    /// User event: receivers may coalesce it with same-named events.
    public static let coalesce: UInt8 = 1 << 0
    /// Query: responders send an ack first.
    public static let wantsAck: UInt8 = 1 << 0
    /// Query response: an ack, not an answer.
    public static let isAck: UInt8 = 1 << 0
    /// State row: a tombstone.
    public static let deleted: UInt8 = 1 << 0
}

extension Message {
    /// The body's fields in wire order (no type byte, no length): the one layout of each message.
    @inlinable
    public func writeBody(into w: inout some FieldSink) {
        switch self {
        case .ping(let p):
            w.varint(UInt64(p.sequence))
            w.string(p.target)
            w.string(p.source)
            w.address(p.sourceAddress)
        case .indirectPing(let p):
            w.varint(UInt64(p.sequence))
            w.string(p.target)
            w.address(p.targetAddress)
            w.string(p.requester)
            w.address(p.requesterAddress)
            w.byte(p.wantsNack ? MessageFlags.wantsNack : 0)
        case .ack(let a):
            w.varint(UInt64(a.sequence))
        case .nack(let n):
            w.varint(UInt64(n.sequence))
        case .alive(let a):
            w.varint(a.incarnation)
            w.string(a.name)
            w.address(a.address)
            w.tags(a.tags)
        case .suspect(let s):
            w.varint(s.incarnation)
            w.string(s.name)
            w.string(s.from)
        case .dead(let d):
            w.varint(d.incarnation)
            w.string(d.name)
            w.string(d.from)
            w.byte(d.left ? MessageFlags.left : 0)
        case .userEvent(let e):
            w.userEvent(e)
        case .query(let q):
            w.varint(q.time)
            w.varint(UInt64(q.id))
            w.string(q.origin)
            w.address(q.originAddress)
            w.byte(q.wantsAck ? MessageFlags.wantsAck : 0)
            w.byte(q.relayFactor)
            w.varint(q.timeoutMilliseconds)
            w.filters(q.filters)
            w.string(q.name)
            w.bytes(q.payload)
        case .queryResponse(let r):
            w.queryResponse(r)
        case .relay(let r):
            w.queryResponse(r.response)
        case .stateRow(let r):
            w.stateRow(r)
        case .stateNewest(let n):
            w.string(n.owner)
            w.varint(n.version)
        }
    }

    /// Bytes of the body alone, without the type byte and length.
    @inlinable
    public var bodySize: Int {
        var c = SizeCounter()
        writeBody(into: &c)
        return c.size
    }

    /// Bytes this message takes inside a datagram, framing included.
    @inlinable
    public var encodedSize: Int { WireSize.framed(body: bodySize) }
}

extension PushPullSection {
    public var type: UInt64 {
        switch self {
        case .members: SectionType.members.rawValue
        case .events: SectionType.events.rawValue
        case .stateDigest: SectionType.stateDigest.rawValue
        case .stateRows: SectionType.stateRows.rawValue
        case .unknown(let t): t
        }
    }

    /// The section's body in wire order (no type, no length): the one layout of each section.
    @inlinable
    public func writeBody(into w: inout some FieldSink) {
        switch self {
        case .members(let members):
            w.varint(UInt64(members.count))
            for m in members { w.memberState(m) }
        case .events(let e):
            w.varint(e.eventClock)
            w.varint(e.queryClock)
            w.varint(UInt64(e.events.count))
            for event in e.events { w.userEvent(event) }
        case .stateDigest(let entries):
            w.varint(UInt64(entries.count))
            for d in entries {
                w.string(d.owner)
                w.varint(d.hash)
                w.varint(d.newest)
            }
        case .stateRows(let rows):
            w.varint(UInt64(rows.count))
            for r in rows { w.stateRow(r) }
        case .unknown:
            break
        }
    }

    @inlinable
    public var bodySize: Int {
        var c = SizeCounter()
        writeBody(into: &c)
        return c.size
    }

    /// Bytes of the section inside a push/pull body: varint type, varint length, body.
    public var encodedSize: Int {
        let body = bodySize
        return WireSize.varint(type) + WireSize.varint(UInt64(body)) + body
    }
}

extension PushPull {
    /// Flags, sender, sender address, section count, then each section as varint type, varint
    /// body length and body. Sections of unknown type are not sent on.
    @inlinable
    public func writeBody(into w: inout some FieldSink) {
        var flags: UInt8 = 0
        if join { flags |= MessageFlags.join }
        if isReply { flags |= MessageFlags.isReply }
        if more { flags |= MessageFlags.more }
        w.byte(flags)
        w.string(sender)
        w.address(senderAddress)
        var known = 0
        for s in sections where s.isKnown { known += 1 }
        w.varint(UInt64(known))
        for s in sections where s.isKnown {
            var c = SizeCounter()
            s.writeBody(into: &c)
            w.varint(s.type)
            w.varint(UInt64(c.size))
            s.writeBody(into: &w)
        }
    }

    @inlinable
    public var bodySize: Int {
        var c = SizeCounter()
        writeBody(into: &c)
        return c.size
    }

    /// The largest section a part writes. Parts with more state write several sections of
    /// their type (the receiver merges each), so that any frame of at least twice this holds
    /// a section, whatever the frame cap.
    public static let maxSectionSize = 32 << 10

    /// The exchange as frames whose bodies are at most `maxBodySize` bytes each (when every
    /// section fits one), sections in order, `more` set on all but the last, and on the last
    /// as it is on the exchange. Always one frame at least.
    public func frames(maxBodySize: Int) -> [PushPull] {
        var header = self
        header.sections = []
        header.more = true
        // Header, plus the longest section count varint a frame can need.
        let base = header.bodySize + WireSize.varint(UInt64(sections.count)) - 1
        var frames: [PushPull] = []
        var current = header
        var size = base
        for s in sections where s.isKnown {
            let n = s.encodedSize
            if !current.sections.isEmpty, size + n > maxBodySize {
                frames.append(current)
                current = header
                size = base
            }
            current.sections.append(s)
            size += n
        }
        // The last frame is as final as the message: a frame that was itself one of several
        // (`more` set) keeps the flag, so re-encoding a decoded frame gives back its bytes.
        current.more = more
        frames.append(current)
        return frames
    }
}

extension PushPullSection {
    @inlinable
    public var isKnown: Bool {
        if case .unknown = self { return false }
        return true
    }
}

extension StreamMessage {
    /// More frames of this message's exchange follow on the same conversation.
    public var more: Bool {
        switch self {
        case .pushPull(let p): p.more
        }
    }

    /// The message as it goes over a stream whose frame bodies hold at most `maxBodySize` bytes.
    public func frames(maxBodySize: Int) -> [StreamMessage] {
        switch self {
        case .pushPull(let p): p.frames(maxBodySize: maxBodySize).map { .pushPull($0) }
        }
    }

    public var type: MessageType {
        switch self {
        case .pushPull: .pushPull
        }
    }

    @inlinable
    public func writeBody(into w: inout some FieldSink) {
        switch self {
        case .pushPull(let p): p.writeBody(into: &w)
        }
    }

    public var bodySize: Int {
        switch self {
        case .pushPull(let p): p.bodySize
        }
    }

    /// Bytes of the framed message (type, length, body), without the stream frame around it.
    public var encodedSize: Int { WireSize.framed(body: bodySize) }
}
