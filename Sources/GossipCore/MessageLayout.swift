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
}

/// Flag bits of message bodies. Undefined bits are refused by the decoders, so that a later
/// version can give them a meaning an older receiver must not silently ignore.
public enum MessageFlags {
    public static let wantsNack: UInt8 = 1 << 0
    public static let left: UInt8 = 1 << 0
    public static let join: UInt8 = 1 << 0
    public static let isReply: UInt8 = 1 << 1
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

extension PushPull {
    /// Flags, sender, sender address, member count, members.
    @inlinable
    public func writeBody(into w: inout some FieldSink) {
        var flags: UInt8 = 0
        if join { flags |= MessageFlags.join }
        if isReply { flags |= MessageFlags.isReply }
        w.byte(flags)
        w.string(sender)
        w.address(senderAddress)
        w.varint(UInt64(members.count))
        for m in members { w.memberState(m) }
    }

    @inlinable
    public var bodySize: Int {
        var c = SizeCounter()
        writeBody(into: &c)
        return c.size
    }
}

extension StreamMessage {
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
