public import GossipCore
public import NIOCore

extension ByteBuffer {
    /// Appends a push/pull body: flags, sender, sender address, member count, members.
    public mutating func writePushPullBody(_ p: PushPull) {
        var flags: UInt8 = 0
        if p.join { flags |= MessageFlags.join }
        if p.isReply { flags |= MessageFlags.isReply }
        writeInteger(flags)
        writeWireString(p.sender)
        writeAddress(p.senderAddress)
        writeVarint(UInt64(p.members.count))
        for m in p.members { writeMemberState(m) }
    }

    /// Appends `[type 8][varint body length][body]`.
    @discardableResult
    public mutating func writeFramedStreamMessage(_ m: StreamMessage) -> Int {
        let start = writerIndex
        switch m {
        case .pushPull(let p):
            writeInteger(MessageType.pushPull.rawValue)
            writeVarint(UInt64(p.bodySize))
            writePushPullBody(p)
        }
        return writerIndex - start
    }

    static func decodePushPullBody(_ body: inout ByteBuffer) throws(WireError) -> PushPull {
        let flags = try body.readFlags(allowed: MessageFlags.join | MessageFlags.isReply)
        let sender = try body.readName()
        let senderAddress = try body.readAddress()
        let count = try body.readVarint()
        // A count is trusted only as far as the bytes present could hold that many members.
        if count > UInt64(body.readableBytes / WireLimits.smallestMemberState) { throw .countTooLarge(count) }
        var members: [MemberState] = []
        members.reserveCapacity(Int(count))
        for _ in 0..<Int(count) { members.append(try body.readMemberState()) }
        if body.readableBytes != 0 { throw .bodyLengthMismatch }
        return PushPull(
            join: flags & MessageFlags.join != 0, isReply: flags & MessageFlags.isReply != 0, sender: sender,
            senderAddress: senderAddress, members: members)
    }
}

extension StreamMessage {
    public var type: MessageType {
        switch self {
        case .pushPull: .pushPull
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
