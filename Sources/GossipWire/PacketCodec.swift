public import GossipCore
public import NIOCore

/// Encodes `[Message]` into datagrams and back, sealing and opening when a keyring is set.
///
/// One codec per node (or per socket). Encoding writes into a buffer the caller keeps and
/// reuses, so that the steady-state send path does not allocate.
public struct PacketCodec: Sendable {
    public var keyring: Keyring?
    public let label: ClusterLabel
    public var counters = WireCounters()
    /// Header bytes of a sealed packet followed by the label: the additional authenticated data.
    private let sealedAAD: [UInt8]

    public init(keyring: Keyring?, label: ClusterLabel = .none) {
        self.keyring = keyring
        self.label = label
        sealedAAD = [WireLimits.version, PacketHeader.sealed] + label.bytes
    }

    /// Bytes each datagram spends on header and sealing, for `Settings.packetOverhead`.
    public var overhead: Int { PacketHeader.overhead(sealed: keyring != nil, label: label) }

    /// Replaces the contents of `buffer` with one datagram holding `messages`, sealed when a
    /// keyring is set. Throws `exceedsBudget` (and leaves garbage in `buffer`) when the datagram
    /// would be longer than `budget`.
    public func encode(_ messages: [Message], into buffer: inout ByteBuffer, budget: Int) throws(WireError) {
        if messages.isEmpty { throw .emptyPacket }
        buffer.clear()
        buffer.writeInteger(WireLimits.version)
        if let keyring {
            buffer.writeInteger(PacketHeader.sealed)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: AEAD.nonceSize) { raw in
                AEAD.randomNonce(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<AEAD.nonceSize]))
                return AEAD.nonceSize
            }
            let textStart = buffer.writerIndex
            Compound.encode(messages, into: &buffer)
            let total = buffer.readableBytes + AEAD.tagSize
            if total > budget { throw .exceedsBudget(total) }
            buffer.writeRepeatingByte(0, count: AEAD.tagSize)
            let tagStart = buffer.writerIndex - AEAD.tagSize
            let readerIndex = buffer.readerIndex
            sealedAAD.withUnsafeBytes { aad in
                buffer.withUnsafeMutableReadableBytes { raw in
                    let base = textStart - readerIndex
                    AEAD.seal(
                        text: UnsafeMutableRawBufferPointer(rebasing: raw[base..<(tagStart - readerIndex)]),
                        tag: UnsafeMutableRawBufferPointer(rebasing: raw[(tagStart - readerIndex)...]),
                        nonce: UnsafeRawBufferPointer(rebasing: raw[PacketHeader.size..<base]),
                        aad: aad, key: keyring.primary)
                }
            }
        } else {
            if label.isEmpty {
                buffer.writeInteger(UInt8(0))
            } else {
                buffer.writeInteger(PacketHeader.labelled)
                buffer.writeInteger(UInt8(label.bytes.count))
                buffer.writeBytes(label.bytes)
            }
            Compound.encode(messages, into: &buffer)
            if buffer.readableBytes > budget { throw .exceedsBudget(buffer.readableBytes) }
        }
    }

    /// Decodes one datagram into `messages` (appending), counting the outcome. Returns false
    /// when the packet was dropped; `counters` says why. `packet` is opened in place.
    public mutating func decode(_ packet: inout ByteBuffer, into messages: inout [Message]) -> Bool {
        let before = messages.count
        do {
            let skipped = try open(&packet, into: &messages)
            counters.recordAccepted(skippedUnknown: skipped)
            return true
        } catch {
            // All or nothing: a packet that fails halfway delivers none of its messages.
            messages.removeSubrange(before...)
            counters.recordDrop(error)
            return false
        }
    }

    /// Like `decode`, but throws the reason and leaves the counters alone. Returns how many
    /// messages of unknown types were skipped.
    public func open(_ packet: inout ByteBuffer, into messages: inout [Message]) throws(WireError) -> Int {
        guard let version = packet.readInteger(as: UInt8.self), let flags = packet.readInteger(as: UInt8.self) else {
            throw .truncated
        }
        if version != WireLimits.version { throw .unsupportedVersion(version) }
        switch flags {
        case PacketHeader.sealed:
            guard let keyring else { throw .noKeyring }
            if packet.readableBytes < AEAD.nonceSize + AEAD.tagSize { throw .truncated }
            let opened = sealedAAD.withUnsafeBytes { aad in
                packet.withUnsafeMutableReadableBytes { raw in
                    let tagStart = raw.count - AEAD.tagSize
                    return AEAD.open(
                        text: UnsafeMutableRawBufferPointer(rebasing: raw[AEAD.nonceSize..<tagStart]),
                        tag: UnsafeRawBufferPointer(rebasing: raw[tagStart...]),
                        nonce: UnsafeRawBufferPointer(rebasing: raw[0..<AEAD.nonceSize]),
                        aad: aad, keyring: keyring)
                }
            }
            if !opened { throw .unauthenticated }
            packet.moveReaderIndex(forwardBy: AEAD.nonceSize)
            packet.moveWriterIndex(to: packet.writerIndex - AEAD.tagSize)
        case 0, PacketHeader.labelled:
            if keyring != nil { throw .notSealed }
            var theirs: ByteBuffer? = nil
            if flags == PacketHeader.labelled {
                guard let n = packet.readInteger(as: UInt8.self), let bytes = packet.readSlice(length: Int(n)) else {
                    throw .truncated
                }
                theirs = bytes
            }
            // An empty label is sent as no label; accepting it labelled would give one packet two encodings.
            if theirs?.readableBytes == 0 { throw .labelMismatch }
            let matches = theirs.map { $0.readableBytesView.elementsEqual(label.bytes) } ?? label.isEmpty
            if !matches { throw .labelMismatch }
        default:
            throw .unknownHeaderFlags(flags)
        }
        return try Compound.decode(&packet, into: &messages)
    }
}
