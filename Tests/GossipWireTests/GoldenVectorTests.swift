import GossipCore
import NIOCore
import Testing

@testable import GossipWire

/// Byte-exact encodings, worked out by hand from Docs/WIRE-FORMAT.md. A change here is a
/// change of the wire format: it needs a new protocol version, not a new vector.
@Suite struct GoldenVectorTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var message: Message
        var hex: String
        var testDescription: String { hex }
    }

    static let vectors: [Vector] = [
        // ack 300: type 3, length 2, varint 300 = ac 02
        Vector(message: .ack(Ack(sequence: 300)), hex: "03 02 ac02"),
        Vector(message: .nack(Nack(sequence: 0)), hex: "04 01 00"),
        // alive: incarnation 1, "node-1", 10.0.0.1:7946, no tags
        Vector(
            message: .alive(Alive(incarnation: 1, name: "node-1", address: Address(ipv4: 0x0a00_0001, port: 7946), tags: [:])),
            hex: "05 10 01 06 6e6f64652d31 04 0a000001 1f0a 00"),
        // alive with tags, keys sorted: dc, role
        Vector(
            message: .alive(
                Alive(incarnation: 2, name: "n", address: Address(ipv4: 0x7f00_0001, port: 1), tags: ["role": "vtep", "dc": "x"])),
            hex: "05 1a 02 01 6e 04 7f000001 0001 02 02 6463 01 78 04 726f6c65 04 76746570"),
        Vector(message: .suspect(Suspect(incarnation: 2, name: "a", from: "b")), hex: "06 05 02 0161 0162"),
        Vector(message: .dead(Dead(incarnation: 3, name: "a", from: "a", left: true)), hex: "07 06 03 0161 0161 01"),
        Vector(message: .dead(Dead(incarnation: 128, name: "a", from: "c", left: false)), hex: "07 07 8001 0161 0163 00"),
        // ping seq 1 to "b" from "a" at [::1]:1
        Vector(
            message: .ping(Ping(sequence: 1, target: "b", source: "a", sourceAddress: Address(ipv6High: 0, low: 1, port: 1))),
            hex: "01 18 01 0162 0161 06 00000000000000000000000000000001 0001"),
        Vector(
            message: .indirectPing(
                IndirectPing(
                    sequence: 128, target: "t", targetAddress: Address(ipv4: 0x0102_0304, port: 80), requester: "r",
                    requesterAddress: Address(ipv4: 0x0506_0708, port: 81), wantsNack: true)),
            hex: "02 15 8001 0174 04 01020304 0050 0172 04 05060708 0051 01"),
        // state row: table "t", owner "o", key "k", version 300, flags 0, value aa
        Vector(
            message: .stateRow(StateRow(table: "t", owner: "o", key: "k", version: 300, value: [0xaa])),
            hex: "0d 0b 0174 016f 016b ac02 00 01aa"),
        // a tombstone: flags 1, no value
        Vector(
            message: .stateRow(StateRow(table: "t", owner: "o", key: "k", version: 2, deleted: true, value: [])),
            hex: "0d 09 0174 016f 016b 02 01 00"),
        // state newest (type 14): owner "o", version 300
        Vector(message: .stateNewest(StateNewest(owner: "o", version: 300)), hex: "0e 04 016f ac02"),
    ]

    @Test(arguments: vectors)
    func messageEncodesToPinnedBytes(_ v: Vector) throws {
        var b = ByteBuffer()
        b.writeFramedMessage(v.message)
        #expect(Array(b.readableBytesView) == bytes(hex: v.hex))
        var out: [Message] = []
        _ = try Compound.decode(&b, into: &out)
        #expect(out == [v.message])
    }

    @Test func pushPullEncodesToPinnedBytes() throws {
        let p = PushPull(
            join: true, isReply: true, sender: "s", senderAddress: Address(ipv4: 0x0a00_0002, port: 2),
            members: [
                MemberState(name: "m", address: Address(ipv4: 0x0a00_0003, port: 3), incarnation: 4, status: .suspect, tags: ["k": "v"])
            ])
        var b = ByteBuffer()
        b.writeFramedStreamMessage(.pushPull(p))
        // flags, sender, address, one section: type 1 (members), length 0x11, count 1, the member.
        let expected = "08 1e 03 0173 04 0a000002 0002 01 01 11 01 016d 04 0a000003 0003 04 01 01 016b 0176"
        #expect(Array(b.readableBytesView) == bytes(hex: expected))
    }

    @Test func stateSectionsEncodeToPinnedBytes() throws {
        let p = PushPull(
            join: false, isReply: false, sender: "s", senderAddress: Address(ipv4: 0x0a00_0002, port: 2),
            sections: [
                .stateDigest([OwnerDigest(owner: "o", hash: 5, newest: 7)]),
                .stateRows([StateRow(table: "t", owner: "o", key: "k", version: 2, deleted: true, value: [])]),
            ])
        var b = ByteBuffer()
        b.writeFramedStreamMessage(.pushPull(p))
        // Two sections: type 3 (digest), length 5, one entry "o" → hash 5, newest 7; type 4 (rows),
        // length 10, one tombstone.
        let expected = "08 1e 00 0173 04 0a000002 0002 02 03 05 01 016f 05 07 04 0a 01 0174 016f 016b 02 01 00"
        #expect(Array(b.readableBytesView) == bytes(hex: expected))
        var body = b
        body.moveReaderIndex(forwardBy: 2)
        #expect(try ByteBuffer.decodePushPullBody(&body) == p)
    }

    @Test func plaintextPacketLayout() throws {
        let codec = PacketCodec(keyring: nil)
        var b = ByteBuffer()
        try codec.encode([.ack(Ack(sequence: 1)), .nack(Nack(sequence: 2))], into: &b, budget: 1400)
        #expect(Array(b.readableBytesView) == bytes(hex: "01 00 0301 01 0401 02"))
    }

    @Test func labelledPlaintextPacketLayout() throws {
        let codec = PacketCodec(keyring: nil, label: try #require(ClusterLabel("prod")))
        var b = ByteBuffer()
        try codec.encode([.ack(Ack(sequence: 1))], into: &b, budget: 1400)
        #expect(Array(b.readableBytesView) == bytes(hex: "01 02 04 70726f64 0301 01"))
        #expect(b.readableBytes == codec.overhead + 3)
    }

    @Test func sealedPacketLayout() throws {
        let codec = PacketCodec(keyring: Keyring(primary: .random()), label: try #require(ClusterLabel("prod")))
        var b = ByteBuffer()
        let m: [Message] = [.ack(Ack(sequence: 1))]
        try codec.encode(m, into: &b, budget: 1400)
        // Header, 24-byte nonce, 3 bytes of ciphertext, 16-byte tag; the label does not travel.
        #expect(b.readableBytes == 2 + 24 + 3 + 16)
        #expect(b.getBytes(at: b.readerIndex, length: 2) == [1, 1])
        #expect(codec.overhead == 42)
    }

    @Test func streamFrameLayout() throws {
        let codec = StreamCodec(keyring: nil)
        var b = ByteBuffer()
        try codec.encode(.message(.ack(Ack(sequence: 1))), into: &b)
        #expect(Array(b.readableBytesView) == bytes(hex: "01 00 00000003 0301 01"))
    }
}
