public import GossipCore
public import NIOCore

/// What a stream frame carries: a stream-only message (push/pull), or a datagram message sent
/// over the stream because it is too large or the datagram path failed.
public enum StreamItem: Hashable, Sendable {
    case stream(StreamMessage)
    case message(Message)

    /// Bytes of the framed item (type, length, body) inside a frame.
    public var encodedSize: Int {
        switch self {
        case .stream(let m): m.encodedSize
        case .message(let m): m.encodedSize
        }
    }
}

/// Length-prefixed frames for TCP: `[version][flags][u32 length][rest]`, one framed item per
/// frame, sealed per frame when a keyring is set. A push/pull larger than a frame goes as
/// several frames of one conversation (`PushPull.more`). The decoder is incremental: feed it whatever
/// bytes arrived, take frames out until it needs more.
public struct StreamCodec: Sendable {
    public static let prefixSize = 6
    /// Large enough for a push/pull of tens of thousands of members with tags.
    public static let defaultMaxFrameSize = 8 << 20

    public var keyring: Keyring?
    public let label: ClusterLabel
    public var maxFrameSize: Int
    public var counters = WireCounters()

    public init(keyring: Keyring?, label: ClusterLabel = .none, maxFrameSize: Int = StreamCodec.defaultMaxFrameSize) {
        self.keyring = keyring
        self.label = label
        self.maxFrameSize = maxFrameSize
    }

    /// Bytes one frame spends besides its item.
    public var overhead: Int {
        Self.prefixSize + (keyring != nil ? AEAD.nonceSize + AEAD.tagSize : (label.isEmpty ? 0 : 1 + label.bytes.count))
    }

    /// The largest push/pull body one frame can carry under `maxFrameSize`.
    public var maxPushPullBody: Int {
        maxFrameSize - (overhead - Self.prefixSize) - 1 - WireSize.varint(UInt64(maxFrameSize))
    }

    /// Appends the frames holding `item`: one, or for a push/pull larger than a frame, one per
    /// `PushPull.frames(maxBodySize:)`, all but the last flagged `more`. Throws `frameTooLarge`
    /// (writing nothing) when a frame would still exceed `maxFrameSize`.
    public func encode(_ item: StreamItem, into buffer: inout ByteBuffer) throws(WireError) {
        guard case .stream(.pushPull(let pp)) = item else { return try encodeFrame(item, into: &buffer) }
        let start = buffer.writerIndex
        do {
            for frame in pp.frames(maxBodySize: maxPushPullBody) {
                try encodeFrame(.stream(.pushPull(frame)), into: &buffer)
            }
        } catch {
            buffer.moveWriterIndex(to: start)
            throw error
        }
    }

    /// Appends one frame holding `item`; throws `frameTooLarge` (writing nothing) when it would
    /// exceed `maxFrameSize`.
    func encodeFrame(_ item: StreamItem, into buffer: inout ByteBuffer) throws(WireError) {
        let length = overhead - Self.prefixSize + item.encodedSize
        if length > maxFrameSize { throw .frameTooLarge(length) }
        let start = buffer.writerIndex
        buffer.writeInteger(WireLimits.version)
        let flags: UInt8 = keyring != nil ? PacketHeader.sealed : (label.isEmpty ? 0 : PacketHeader.labelled)
        buffer.writeInteger(flags)
        buffer.writeInteger(UInt32(length))
        if keyring == nil, !label.isEmpty {
            buffer.writeInteger(UInt8(label.bytes.count))
            buffer.writeBytes(label.bytes)
        }
        let nonceStart = buffer.writerIndex
        if keyring != nil {
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: AEAD.nonceSize) { raw in
                AEAD.randomNonce(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<AEAD.nonceSize]))
                return AEAD.nonceSize
            }
        }
        switch item {
        case .stream(let m): buffer.writeFramedStreamMessage(m)
        case .message(let m): buffer.writeFramedMessage(m)
        }
        guard let keyring else { return }
        buffer.writeRepeatingByte(0, count: AEAD.tagSize)
        let end = buffer.writerIndex
        let aad = (buffer.getBytes(at: start, length: Self.prefixSize) ?? []) + label.bytes
        let readerIndex = buffer.readerIndex
        aad.withUnsafeBytes { aad in
            buffer.withUnsafeMutableReadableBytes { raw in
                let nonce = nonceStart - readerIndex
                let text = nonce + AEAD.nonceSize
                let tag = end - readerIndex - AEAD.tagSize
                AEAD.seal(
                    text: UnsafeMutableRawBufferPointer(rebasing: raw[text..<tag]),
                    tag: UnsafeMutableRawBufferPointer(rebasing: raw[tag..<(tag + AEAD.tagSize)]),
                    nonce: UnsafeRawBufferPointer(rebasing: raw[nonce..<text]), aad: aad, key: keyring.primary)
            }
        }
    }

    public enum Decoded: Hashable, Sendable {
        /// No whole frame yet; call again when more bytes arrive.
        case needMoreData
        case item(StreamItem)
        /// A frame whose item has a type this version does not know; skipped and counted.
        case skipped(type: UInt8)
    }

    /// Takes the next frame out of `buffer`, counting the outcome. An error means the stream
    /// is not ours or is corrupt: the caller disconnects (the counters already hold the reason).
    public mutating func decode(_ buffer: inout ByteBuffer) throws(WireError) -> Decoded {
        do {
            let result = try decodeUncounted(&buffer)
            switch result {
            case .needMoreData: break
            case .item(.stream(.pushPull(let pp))): counters.recordAccepted(skippedUnknown: pp.unknownSections)
            case .item: counters.recordAccepted(skippedUnknown: 0)
            case .skipped: counters.recordAccepted(skippedUnknown: 1)
            }
            return result
        } catch {
            counters.recordDrop(error)
            throw error
        }
    }

    /// Like `decode`, without counting.
    public func decodeUncounted(_ buffer: inout ByteBuffer) throws(WireError) -> Decoded {
        // Checked as soon as each byte arrives, so that garbage (say, an HTTP request) is
        // refused at once instead of waiting for a length it announced by accident.
        guard let version = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return .needMoreData }
        if version != WireLimits.version { throw .unsupportedVersion(version) }
        guard let flags = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self) else { return .needMoreData }
        let sealed: Bool
        switch flags {
        case PacketHeader.sealed:
            guard keyring != nil else { throw .noKeyring }
            sealed = true
        case 0, PacketHeader.labelled:
            if keyring != nil { throw .notSealed }
            sealed = false
        default:
            throw .unknownHeaderFlags(flags)
        }
        guard let length32 = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt32.self) else {
            return .needMoreData
        }
        let length = Int(length32)
        if length > maxFrameSize { throw .frameTooLarge(length) }
        if sealed && length < AEAD.nonceSize + AEAD.tagSize { throw .truncated }
        guard buffer.readableBytes >= Self.prefixSize + length,
            let prefix = buffer.readBytes(length: Self.prefixSize),
            var rest = buffer.readSlice(length: length)
        else { return .needMoreData }
        if let keyring {
            let aad = prefix + label.bytes
            let opened = aad.withUnsafeBytes { aad in
                rest.withUnsafeMutableReadableBytes { raw in
                    let tag = raw.count - AEAD.tagSize
                    return AEAD.open(
                        text: UnsafeMutableRawBufferPointer(rebasing: raw[AEAD.nonceSize..<tag]),
                        tag: UnsafeRawBufferPointer(rebasing: raw[tag...]),
                        nonce: UnsafeRawBufferPointer(rebasing: raw[0..<AEAD.nonceSize]), aad: aad, keyring: keyring)
                }
            }
            if !opened { throw .unauthenticated }
            rest.moveReaderIndex(forwardBy: AEAD.nonceSize)
            rest.moveWriterIndex(to: rest.writerIndex - AEAD.tagSize)
        } else {
            var theirs: [UInt8] = []
            if flags == PacketHeader.labelled {
                guard let n = rest.readInteger(as: UInt8.self), let bytes = rest.readBytes(length: Int(n)) else {
                    throw .truncated
                }
                theirs = bytes
                // An empty label is sent as no label, so that each frame has one encoding.
                if bytes.isEmpty { throw .labelMismatch }
            }
            if theirs != label.bytes { throw .labelMismatch }
        }
        return try Self.decodeItem(&rest)
    }

    /// One framed item filling the whole buffer.
    static func decodeItem(_ rest: inout ByteBuffer) throws(WireError) -> Decoded {
        guard let code = rest.readInteger(as: UInt8.self) else { throw .truncated }
        let length = try rest.readVarint()
        if length != UInt64(rest.readableBytes) {
            throw length > UInt64(rest.readableBytes) ? .truncated : .bodyLengthMismatch
        }
        switch Compound.kind(of: code) {
        case .datagram(let type):
            return .item(.message(try ByteBuffer.decodeMessageBody(type: type, &rest)))
        case .streamOnly:
            return .item(.stream(.pushPull(try ByteBuffer.decodePushPullBody(&rest))))
        case .skippable:
            return .skipped(type: code)
        case .refused:
            throw .unexpectedType(code)
        }
    }
}
