import GossipCore
import GossipWire
import NIOCore

/// One fuzz input through every decoder. Decoders may refuse anything, but must never trap,
/// and whatever they accept must re-encode to exactly the bytes they were given (otherwise the
/// sizes the core predicts would not match what a relayed message costs).
enum FuzzOne {
    // Fixed key and label so that the sealed path gets past "no keyring"; nearly every input then
    // fails authentication, which is the path a forged packet takes.
    static let key: SecretKey? = try? SecretKey(bytes: [UInt8](repeating: 7, count: SecretKey.size))

    static func run(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        datagram(bytes)
        sealedDatagram(bytes)
        stream(bytes)
        // The same bytes as the inside of a frame, to reach the push/pull body decoder directly.
        stream(framePrefix(bytes.count) + bytes)
        stream(framePrefix(bytes.count + 1) + [8] + bytes)
        // And as a compound after a valid plaintext header.
        datagram([1, 0] + bytes)
        keyCommands(bytes)
    }

    static func framePrefix(_ length: Int) -> [UInt8] {
        let n = UInt32(truncatingIfNeeded: length)
        return [1, 0, UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
    }

    static func datagram(_ bytes: [UInt8]) {
        let codec = PacketCodec(keyring: nil)
        var b = ByteBuffer(bytes: bytes)
        var out: [Message] = []
        guard let skipped = try? codec.open(&b, into: &out), skipped == 0 else { return }
        var again = ByteBuffer()
        do {
            try codec.encode(out, into: &again, budget: Int.max)
        } catch {
            fatalError("accepted packet does not re-encode: \(error)")
        }
        if Array(again.readableBytesView) != bytes { fatalError("non-canonical packet accepted: \(bytes)") }
        let predicted = 2 + out.reduce(0) { $0 + $1.encodedSize }
        if predicted != bytes.count { fatalError("encodedSize \(predicted) != \(bytes.count)") }
    }

    static func sealedDatagram(_ bytes: [UInt8]) {
        guard let key else { return }
        var codec = PacketCodec(keyring: Keyring(primary: key), label: ClusterLabel("fuzz") ?? .none)
        var b = ByteBuffer(bytes: bytes)
        var out: [Message] = []
        _ = codec.decode(&b, into: &out)
    }

    static func stream(_ bytes: [UInt8]) {
        var codec = StreamCodec(keyring: nil, maxFrameSize: 1 << 16)
        var b = ByteBuffer(bytes: bytes)
        while true {
            let start = b.readerIndex
            guard let next = try? codec.decode(&b) else { return }
            switch next {
            case .needMoreData, .skipped: return
            case .item(let item):
                var again = ByteBuffer()
                do {
                    try StreamCodec(keyring: nil, maxFrameSize: 1 << 16).encode(item, into: &again)
                } catch {
                    fatalError("accepted frame does not re-encode: \(error)")
                }
                // A newer node's sections are skipped, not kept: such a frame cannot re-encode to
                // its bytes, and the one-encoding rule covers what this version understands.
                if case .stream(.pushPull(let p)) = item, p.sections.contains(where: { !$0.isKnown }) { continue }
                if Array(again.readableBytesView) != bytes[start..<b.readerIndex].map({ $0 }) {
                    fatalError("non-canonical frame accepted: \(bytes)")
                }
            }
        }
    }
}
