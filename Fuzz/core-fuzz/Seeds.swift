import GossipCore
import GossipWire
import NIOCore

/// Seed scripts for the corpus: each starts from a formed cluster and exercises one path, with
/// attacker packets and frames encoded by the real codec, so that mutation starts from inputs
/// the decoder accepts.
enum Seeds {
    /// Opcodes, as `FuzzOp` numbers them.
    static func op(_ o: FuzzOp) -> UInt8 { o.rawValue }

    /// Header: 3 nodes, Lifeguard, 1,400-byte payload, 64 members, 16 per exchange, formed cluster.
    static let header: [UInt8] = [0, 2, 0, 0, 0, 20]

    static func packet(_ messages: [Message]) -> [UInt8] {
        var buffer = ByteBuffer()
        try? PacketCodec(keyring: nil).encode(messages, into: &buffer, budget: 65_507)
        return Array(buffer.readableBytesView)
    }

    static func frame(_ message: StreamMessage) -> [UInt8] {
        var buffer = ByteBuffer()
        try? StreamCodec(keyring: nil, maxFrameSize: 1 << 16).encode(.stream(message), into: &buffer)
        return Array(buffer.readableBytesView)
    }

    static func blob(_ bytes: [UInt8]) -> [UInt8] {
        if bytes.count < 0xf0 { return [UInt8(bytes.count)] + bytes }
        let hi = bytes.count / 256
        return [UInt8(0xf0 + hi - 1), UInt8(bytes.count % 256)] + bytes
    }

    /// Whole packet (raw flag 1) to node `target`, from a fake reachable source.
    static func datagram(_ target: UInt8, _ messages: [Message]) -> [UInt8] {
        [op(.codecDatagram), target, 2, 1] + blob(packet(messages))
    }

    static func stream(_ target: UInt8, _ message: StreamMessage, answering: Bool = false) -> [UInt8] {
        [op(.codecStream), target, 2, answering ? 3 : 1] + blob(frame(message))
    }

    static let a = Address(ipv4: 0x0A00_0001, port: 7946)
    static let b = Address(ipv4: 0x0A00_0002, port: 7946)
    static let fake = Address(ipv4: 0x0A00_0105, port: 7946)

    static func all() -> [(String, [UInt8])] {
        let top = Limits.maxIncarnation
        var seeds: [(String, [UInt8])] = []
        func add(_ name: String, _ body: [UInt8]) { seeds.append((name, header + body)) }

        add("idle", [op(.settleLong), 10])
        add("alive-max", datagram(1, [.alive(Alive(incarnation: .max, name: "n1", address: b, tags: Tags()))]) + [op(.settle), 31])
        add("suspect-ceiling", datagram(1, [.suspect(Suspect(incarnation: top - 1, name: "n1", from: "n0"))]) + [op(.settle), 31])
        add("dead-ceiling", datagram(0, [.dead(Dead(incarnation: top, name: "n1", from: "n0", left: false))]) + [op(.settle), 31])
        add("alive-fake", datagram(0, [.alive(Alive(incarnation: 1, name: "x1", address: fake, tags: ["k": "v"]))]) + [op(.settleLong), 4])
        add("alive-port0", datagram(0, [.alive(Alive(incarnation: 1, name: "x2", address: Address(ipv4: 0x0A00_0105, port: 0), tags: Tags()))]))
        add("alive-self-elsewhere", datagram(2, [.alive(Alive(incarnation: 5, name: "n2", address: fake, tags: Tags()))]) + [op(.settle), 31])
        add("bad-name", datagram(0, [.alive(Alive(incarnation: 1, name: "a\nfailed n2", address: fake, tags: Tags()))]))
        add("pings", datagram(0, [
            .ping(Ping(sequence: 1, target: "n0", source: "n1", sourceAddress: b)),
            .ping(Ping(sequence: 2, target: "n0", source: "n1", sourceAddress: b)),
            .indirectPing(IndirectPing(sequence: 3, target: "n1", targetAddress: b, requester: "x", requesterAddress: fake, wantsNack: true)),
        ]) + [op(.settle), 31])
        add("ack-nack", datagram(0, [.ack(Ack(sequence: 7)), .nack(Nack(sequence: 7))]))
        add("stale-resurrect", datagram(0, [
            .alive(Alive(incarnation: 1, name: "x0", address: fake, tags: Tags())),
            .dead(Dead(incarnation: 1, name: "x0", from: "n1", left: false)),
            .dead(Dead(incarnation: 10, name: "x0", from: "n1", left: false)),
            .alive(Alive(incarnation: 2, name: "x0", address: fake, tags: Tags())),
        ]))
        add("left-accused", datagram(0, [
            .dead(Dead(incarnation: 3, name: "n2", from: "n2", left: true)),
            .suspect(Suspect(incarnation: 2, name: "n2", from: "n1")),
        ]) + [op(.settle), 31])
        var many: [MemberState] = []
        for k in 0..<40 {
            many.append(MemberState(name: "f\(k)", address: Address(ipv4: 0x0A00_0100 + UInt32(k), port: 7946), incarnation: 0, status: .alive, tags: Tags()))
        }
        add("pushpull-flood", stream(0, .pushPull(PushPull(join: true, isReply: false, sender: "x", senderAddress: fake, members: many))) + [op(.settleLong), 8])
        add("pushpull-mixed", stream(1, .pushPull(PushPull(join: false, isReply: false, sender: "n0", senderAddress: a, members: [
            MemberState(name: "n1", address: fake, incarnation: 4, status: .alive, tags: Tags()),
            MemberState(name: "n2", address: Address(ipv4: 0x0A00_0003, port: 7946), incarnation: top - 1, status: .suspect, tags: Tags()),
            MemberState(name: "x3", address: fake, incarnation: top, status: .failed, tags: Tags()),
            MemberState(name: "x4", address: fake, incarnation: 2, status: .left, tags: Tags()),
        ]))) + [op(.settle), 31])
        add("join-answered", [op(.join), 2, 0x81, op(.answerRequest), 0, 0x2f, 3, 9] + [op(.settleLong), 2])
        add("join-conflict", [op(.join), 1, 0x81] + stream(1, .pushPull(PushPull(join: false, isReply: true, sender: "n0", senderAddress: a, members: [
            MemberState(name: "n1", address: fake, incarnation: 0, status: .alive, tags: Tags()),
        ])), answering: true))
        add("leave", [op(.leave), 1, op(.settleLong), 2, op(.setTags), 0, 2, op(.settleLong), 2])
        add("partition", [op(.partition), 2, op(.settleLong), 20, op(.partition), 2, op(.settleLong), 20])
        add("restart", [op(.restart), 1, 0, op(.settleLong), 4, op(.restart), 2, 1, op(.settleLong), 4])
        add("fill", [op(.fillTable), 0, 0, 15, 2, op(.fillTable), 0, 16, 15, 2, op(.fillTable), 0, 32, 15, 2, op(.fillTable), 0, 48, 15, 2, op(.fillTable), 0, 64, 15, 2, op(.settleLong), 8])
        add("forged", [op(.forgedDatagram), 0, 2, 3, 4, 1, 7, 0, 5, 8, 9, 13, 1, op(.settle), 20, op(.forgedPushPull), 1, 2, 0x25, 0, 30, 2, op(.settle), 31])
        add("reorder", [op(.advance), 3, op(.fireEarliest), op(.duplicate), 0, op(.deliver), 1, op(.drop), 0, op(.fireEarliest), op(.deliver), 0])
        // Forged values through the codec and back, with and without a changed byte.
        add("roundtrip-alive", [op(.codecRoundTrip), 0, 2, 0, 2, 4, 0x10, 9, 0x10, 0, 4, 0x20, 2, 0x20, 1, op(.settle), 31])
        add("roundtrip-edited", [op(.codecRoundTrip), 1, 2, 2, 0, 5, 7, 1, 7, 0x10, 7, 0, 0, op(.settle), 31])
        add("roundtrip-pushpull", [op(.codecRoundTrip), 2, 2, 1, 0x20, 30, 60, 8, 2, op(.settleLong), 8])
        return seeds
    }
}
