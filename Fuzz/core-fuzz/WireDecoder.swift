import GossipCore
import GossipWire
import NIOCore

/// The real plaintext codec, as a node's shell runs it: what it accepts reaches the core.
struct WireDecoder: AttackerDecoder {
    let packets = PacketCodec(keyring: nil)
    let streams = StreamCodec(keyring: nil, maxFrameSize: 1 << 16)

    func datagram(_ bytes: ArraySlice<UInt8>) -> [Message]? {
        var buffer = ByteBuffer(bytes: bytes)
        var messages: [Message] = []
        guard (try? packets.open(&buffer, into: &messages)) != nil else { return nil }
        return messages
    }

    func stream(_ bytes: ArraySlice<UInt8>) -> [AttackerStreamItem] {
        var buffer = ByteBuffer(bytes: bytes)
        var items: [AttackerStreamItem] = []
        while items.count < 8, let next = try? streams.decodeUncounted(&buffer) {
            switch next {
            case .needMoreData: return items
            case .skipped: continue
            case .item(.stream(let m)): items.append(.stream(m))
            case .item(.message(let m)): items.append(.message(m))
            }
        }
        return items
    }
}
