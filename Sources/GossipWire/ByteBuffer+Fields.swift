import GossipCore
import NIOCore

/// The read half of the field layouts in `GossipCore/MessageLayout.swift`.
extension ByteBuffer {
    /// Reads a string of at most `maxLength` bytes; `tooLong` is the error for a longer one,
    /// so that a name and a tag value over their limits are counted apart.
    mutating func readWireString(maxLength: Int, tooLong: (UInt64) -> WireError) throws(WireError) -> String {
        let n = try readVarint()
        if n > UInt64(maxLength) { throw tooLong(n) }
        return try readUTF8(length: Int(n))
    }

    /// Reads `length` bytes of valid UTF-8 (`length` already bounded by the caller).
    mutating func readUTF8(length: Int) throws(WireError) -> String {
        if length > readableBytes { throw .truncated }
        if length == 0 { return "" }
        let decoded: String? = withUnsafeReadableBytes { raw in
            let bytes = UnsafeRawBufferPointer(rebasing: raw[0..<length])
            var ascii: UInt8 = 0
            for b in bytes { ascii |= b }
            let s = String(decoding: bytes, as: UTF8.self)
            if ascii < 0x80 { return s }
            // Decoding repairs bad UTF-8 with U+FFFD; comparing back detects any repair.
            var copy = s
            let same = copy.withUTF8 { utf8 in
                utf8.count == length && (0..<length).allSatisfy { utf8[$0] == bytes[$0] }
            }
            return same ? s : nil
        }
        guard let decoded else { throw .invalidUTF8 }
        moveReaderIndex(forwardBy: length)
        return decoded
    }

    mutating func readName() throws(WireError) -> String {
        try readWireString(maxLength: WireLimits.maxNameLength) { .nameTooLong(Int(clamping: $0)) }
    }

    mutating func readAddress() throws(WireError) -> Address {
        guard let family = readInteger(as: UInt8.self) else { throw .truncated }
        switch family {
        case 4:
            guard let ip = readInteger(as: UInt32.self), let port = readInteger(as: UInt16.self) else {
                throw .truncated
            }
            return Address(ipv4: ip, port: port)
        case 6:
            guard let high = readInteger(as: UInt64.self), let low = readInteger(as: UInt64.self),
                let port = readInteger(as: UInt16.self)
            else { throw .truncated }
            return Address(ipv6High: high, low: low, port: port)
        default:
            throw .invalidAddressFamily(family)
        }
    }

    mutating func readTags() throws(WireError) -> Tags {
        let start = readerIndex
        let count = try readVarint()
        if count > UInt64(WireLimits.maxTagCount) { throw .tagsTooLarge }
        var tags = Tags()
        var previous: String? = nil
        for _ in 0..<Int(count) {
            let key = try readWireString(maxLength: WireLimits.maxTagStringLength) { _ in .tagsTooLarge }
            let value = try readWireString(maxLength: WireLimits.maxTagStringLength) { _ in .tagsTooLarge }
            // Strictly increasing keys: a duplicate or out-of-order key would collapse or move in
            // `Tags`, and the message would no longer re-encode to the bytes (and size) received.
            if let previous, !(previous < key) { throw .unsortedTags }
            if readerIndex - start > WireLimits.maxTagsSize { throw .tagsTooLarge }
            tags[key] = value
            previous = key
        }
        return tags
    }

    mutating func readMemberState() throws(WireError) -> MemberState {
        let name = try readName()
        let address = try readAddress()
        let incarnation = try readIncarnation()
        guard let raw = readInteger(as: UInt8.self) else { throw .truncated }
        guard let status = MemberStatus(rawValue: raw) else { throw .invalidStatus(raw) }
        let tags = try readTags()
        return MemberState(name: name, address: address, incarnation: incarnation, status: status, tags: tags)
    }
}
