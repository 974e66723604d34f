import CNetlink

/// One netlink message inside a receive buffer; valid only while the buffer is.
struct RawMessage {
    let type: UInt16
    let flags: UInt16
    let sequence: UInt32
    /// The bytes after the 16-byte header, up to the message's own length.
    let payload: UnsafeRawBufferPointer
}

/// Walks the messages in `buffer[0..<count]`, stopping at the first malformed header.
///
/// - Returns: false when it stopped at a malformed header (what followed it is lost), true
///   when every byte was walked or `body` asked to stop.
@discardableResult
func forEachMessage(in buffer: UnsafeRawBufferPointer, _ body: (RawMessage) throws(NetlinkError) -> Bool) throws(NetlinkError) -> Bool {
    let headerSize = MemoryLayout<nlmsghdr>.size
    var offset = 0
    while offset + headerSize <= buffer.count {
        let length = Int(buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        guard length >= headerSize, offset + length <= buffer.count else { return false }
        let message = RawMessage(
            type: buffer.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self),
            flags: buffer.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self),
            sequence: buffer.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self),
            payload: UnsafeRawBufferPointer(rebasing: buffer[(offset + headerSize)..<(offset + length)]))
        guard try body(message) else { return true }
        offset += (length + 3) & ~3
    }
    return offset >= buffer.count
}

/// Calls `body(type, value)` for each route attribute in `bytes`, ignoring a truncated tail.
@inline(__always)
func forEachAttribute(in bytes: UnsafeRawBufferPointer, from start: Int, _ body: (UInt16, UnsafeRawBufferPointer) -> Void) {
    var offset = start
    while offset + 4 <= bytes.count {
        let length = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        guard length >= 4, offset + length <= bytes.count else { return }
        // The top two bits are the nested / byte-order flags, not part of the type.
        let type = bytes.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self) & 0x3FFF
        body(type, UnsafeRawBufferPointer(rebasing: bytes[(offset + 4)..<(offset + length)]))
        offset += (length + 3) & ~3
    }
}

/// The error code and optional kernel text of an NLMSG_ERROR message (0 means a plain ack).
func parseAcknowledgement(_ message: RawMessage) -> (code: Int32, text: String?) {
    let payload = message.payload
    guard payload.count >= 4 else { return (-EPROTO_VALUE, "short acknowledgement") }
    let code = payload.loadUnaligned(as: Int32.self)
    guard code != 0, message.flags & UInt16(NLM_F_ACK_TLVS) != 0 else { return (code, nil) }
    // With NETLINK_CAP_ACK only the request's header is echoed; without it, the whole request.
    var tlvStart = 4 + MemoryLayout<nlmsghdr>.size
    if message.flags & UInt16(NLM_F_CAPPED) == 0, payload.count >= tlvStart {
        let echoed = Int(payload.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        tlvStart = 4 + ((echoed + 3) & ~3)
    }
    guard tlvStart <= payload.count else { return (code, nil) }
    var text: String?
    forEachAttribute(in: payload, from: tlvStart) { type, value in
        if type == UInt16(NLMSGERR_ATTR_MSG.rawValue) {
            text = String(decoding: value.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
    return (code, text)
}

/// EPROTO without pulling Glibc into this file's namespace.
let EPROTO_VALUE: Int32 = 71
