public import GossipCore
public import NIOCore

extension ByteBuffer {
    /// Appends a push/pull body: flags, sender, sender address, member count, members.
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
