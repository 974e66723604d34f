public import GossipCore
public import NIOCore

/// The payload of a datagram: framed messages back to back, `[type][varint length][body]` each.
public enum Compound {
    /// What a type code means to this version (Docs/WIRE-FORMAT.md, "Compatibility").
    enum Kind {
        case datagram(MessageType)
        case streamOnly(MessageType)
        /// A newer peer's message this version does not know: skipped and counted.
        case skippable
        /// Code 0 or a code with the top bit set that this version does not know: a newer peer
        /// marked it as one the receiver must understand, so the whole packet is refused.
        case refused
    }

    static func kind(of code: UInt8) -> Kind {
        if let type = MessageType(rawValue: code) {
            return type == .pushPull ? .streamOnly(type) : .datagram(type)
        }
        return code == 0 || code & 0x80 != 0 ? .refused : .skippable
    }

    /// Appends every message framed; returns the bytes written.
    @discardableResult
    public static func encode(_ messages: [Message], into buffer: inout ByteBuffer) -> Int {
        var n = 0
        for m in messages { n += buffer.writeFramedMessage(m) }
        return n
    }

    /// Decodes framed messages until the buffer is empty, appending them to `messages`.
    /// Returns how many messages of unknown (newer) types were skipped.
    public static func decode(_ buffer: inout ByteBuffer, into messages: inout [Message]) throws(WireError) -> Int {
        if buffer.readableBytes == 0 { throw .emptyPacket }
        var skipped = 0
        while buffer.readableBytes > 0 {
            guard let code = buffer.readInteger(as: UInt8.self) else { throw .truncated }
            let length = try buffer.readVarint()
            guard length <= UInt64(buffer.readableBytes), var body = buffer.readSlice(length: Int(length)) else {
                throw .truncated
            }
            switch kind(of: code) {
            case .datagram(let type): messages.append(try ByteBuffer.decodeMessageBody(type: type, &body))
            case .streamOnly, .refused: throw .unexpectedType(code)
            case .skippable: skipped += 1
            }
        }
        return skipped
    }
}
