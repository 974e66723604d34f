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

    func reencoded(_ messages: [Message], edits: [(offset: Int, value: UInt8)]) -> [Message]? {
        var buffer = ByteBuffer()
        guard (try? packets.encode(messages, into: &buffer, budget: 65_507)) != nil else { return nil }
        var bytes = Array(buffer.readableBytesView)
        for e in edits where !bytes.isEmpty { bytes[e.offset % bytes.count] = e.value }
        return datagram(bytes[...])
    }

    func reencoded(_ message: StreamMessage, edits: [(offset: Int, value: UInt8)]) -> [AttackerStreamItem] {
        var buffer = ByteBuffer()
        guard (try? streams.encode(.stream(message), into: &buffer)) != nil else { return [] }
        var bytes = Array(buffer.readableBytesView)
        for e in edits where !bytes.isEmpty { bytes[e.offset % bytes.count] = e.value }
        return stream(bytes[...])
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
