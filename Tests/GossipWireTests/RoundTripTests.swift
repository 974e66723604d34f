import GossipCore
import NIOCore
import Testing

@testable import GossipWire

/// Encodes one message framed, checks the size the core predicts, decodes it back.
private func roundTrip(_ m: Message) throws -> (Message, Int) {
    var buffer = ByteBuffer()
    let written = buffer.writeFramedMessage(m)
    var out: [Message] = []
    let skipped = try Compound.decode(&buffer, into: &out)
    #expect(skipped == 0)
    #expect(out.count == 1)
    return (out.first ?? .ack(Ack(sequence: 0)), written)
}

@Suite struct RoundTripTests {
    static let examples: [Message] = [
        .ping(Ping(sequence: 7, target: "node-2", source: "node-1", sourceAddress: Address(ipv4: 0x0a00_0001, port: 7946))),
        .indirectPing(
            IndirectPing(
                sequence: UInt32.max, target: "t", targetAddress: Address(ipv6High: 1, low: 2, port: 3), requester: "r",
                requesterAddress: Address(ipv4: 1, port: 2), wantsNack: true)),
        .indirectPing(
            IndirectPing(
                sequence: 0, target: "", targetAddress: Address(ipv4: 0, port: 0), requester: "",
                requesterAddress: Address(ipv4: 0, port: 0), wantsNack: false)),
        .ack(Ack(sequence: 0)),
        .ack(Ack(sequence: 128)),
        .nack(Nack(sequence: 16_384)),
        .alive(Alive(incarnation: 0, name: "node-123", address: Address(ipv4: 0xc0a8_0001, port: 7946), tags: [:])),
        .alive(
            Alive(
                incarnation: Limits.maxIncarnation, name: String(repeating: "é", count: 64), address: Address(ipv6High: .max, low: .max, port: .max),
                tags: ["role": "vtep", "dc": "eu-1", "": ""])),
        .suspect(Suspect(incarnation: 5, name: "node-9", from: "node-3")),
        .dead(Dead(incarnation: 9, name: "node-9", from: "node-9", left: true)),
        .dead(Dead(incarnation: 1 << 35, name: "node-9", from: "node-4", left: false)),
    ]

    @Test(arguments: examples)
    func everyMessageKindRoundTrips(_ m: Message) throws {
        let (back, written) = try roundTrip(m)
        #expect(back == m)
        #expect(written == m.encodedSize)
    }

    @Test(arguments: 0..<64 as Range<UInt64>)
    func randomMessagesRoundTripAtTheirPredictedSize(seed: UInt64) throws {
        var r = RandomMessages(seed: seed)
        for _ in 0..<200 {
            let m = r.message()
            var body = ByteBuffer()
            body.writeMessageBody(m)
            #expect(body.readableBytes == m.bodySize, "seed \(seed): \(m)")
            let (back, written) = try roundTrip(m)
            #expect(written == m.encodedSize, "seed \(seed): \(m)")
            #expect(back == m, "seed \(seed)")
        }
    }

    @Test(arguments: 0..<32 as Range<UInt64>)
    func randomCompoundsRoundTrip(seed: UInt64) throws {
        var r = RandomMessages(seed: seed)
        let messages = (0..<r.int(1...20)).map { _ in r.message() }
        var buffer = ByteBuffer()
        let n = Compound.encode(messages, into: &buffer)
        #expect(n == messages.reduce(0) { $0 + $1.encodedSize })
        var out: [Message] = []
        #expect(try Compound.decode(&buffer, into: &out) == 0)
        #expect(out == messages)
    }

    @Test(arguments: 0..<32 as Range<UInt64>)
    func randomPushPullsRoundTripAtTheirPredictedSize(seed: UInt64) throws {
        var r = RandomMessages(seed: seed)
        let p = r.pushPull()
        var buffer = ByteBuffer()
        let written = buffer.writeFramedStreamMessage(.pushPull(p))
        #expect(written == StreamMessage.pushPull(p).encodedSize)
        var body = ByteBuffer()
        body.writePushPullBody(p)
        #expect(body.readableBytes == p.bodySize)
        #expect(try ByteBuffer.decodePushPullBody(&body) == p)
    }

    @Test(arguments: [0, 1, 127, 128, 16_383, 16_384, UInt64(UInt32.max), UInt64.max - 1, UInt64.max])
    func varintsRoundTripAtPredictedSize(_ v: UInt64) throws {
        var b = ByteBuffer()
        b.writeVarint(v)
        #expect(b.readableBytes == WireSize.varint(v))
        #expect(try b.readVarint() == v)
        #expect(b.readableBytes == 0)
    }
}
