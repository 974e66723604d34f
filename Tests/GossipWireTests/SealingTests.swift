import GossipCore
import NIOCore
import Testing

@testable import GossipWire

@Suite struct SealingTests {
    static let messages: [Message] = [
        .alive(Alive(incarnation: 3, name: "node-1", address: Address(ipv4: 0x0a00_0001, port: 7946), tags: ["role": "vtep"])),
        .suspect(Suspect(incarnation: 1, name: "node-2", from: "node-1")),
    ]

    private func seal(_ codec: PacketCodec, _ m: [Message] = messages) throws -> ByteBuffer {
        var b = ByteBuffer()
        try codec.encode(m, into: &b, budget: 1400)
        return b
    }

    @Test func sealedPacketOpensWithTheSameKeyAndLabel() throws {
        let key = SecretKey.random()
        let label = try #require(ClusterLabel("prod"))
        var receiver = PacketCodec(keyring: Keyring(primary: key), label: label)
        var packet = try seal(PacketCodec(keyring: Keyring(primary: key), label: label))
        var out: [Message] = []
        #expect(receiver.decode(&packet, into: &out))
        #expect(out == Self.messages)
        #expect(receiver.counters.accepted == 1)
    }

    @Test func ciphertextDoesNotShowThePlaintext() throws {
        let packet = try seal(PacketCodec(keyring: Keyring(primary: .random())))
        let bytes = Array(packet.readableBytesView)
        let name = Array("node-1".utf8)
        let found = (0...(bytes.count - name.count)).contains { Array(bytes[$0..<$0 + name.count]) == name }
        #expect(!found)
    }

    @Test func twoSealsOfTheSameMessagesDiffer() throws {
        let codec = PacketCodec(keyring: Keyring(primary: .random()))
        #expect(try seal(codec) != seal(codec))
    }

    @Test(arguments: 0..<8 as Range<UInt64>)
    func everyTamperedByteIsRejectedAndCounted(seed: UInt64) throws {
        let key = SecretKey.random()
        let sender = PacketCodec(keyring: Keyring(primary: key))
        var receiver = PacketCodec(keyring: Keyring(primary: key))
        let good = Array(try seal(sender).readableBytesView)
        var rng = SeededGenerator(seed: seed)
        // Past the two header bytes: those fail the version/flag checks before the tag is looked at.
        for i in 2..<good.count {
            var bad = good
            bad[i] ^= UInt8.random(in: 1...255, using: &rng)
            var b = ByteBuffer(bytes: bad)
            var out: [Message] = []
            #expect(!receiver.decode(&b, into: &out), "byte \(i)")
            #expect(out.isEmpty)
        }
        #expect(receiver.counters[.unauthenticated] == good.count - 2)
    }

    @Test func truncatedSealedPacketsAreRejected() throws {
        let key = SecretKey.random()
        let good = Array(try seal(PacketCodec(keyring: Keyring(primary: key))).readableBytesView)
        var receiver = PacketCodec(keyring: Keyring(primary: key))
        for n in 0..<good.count {
            var b = ByteBuffer(bytes: Array(good[0..<n]))
            var out: [Message] = []
            #expect(!receiver.decode(&b, into: &out))
        }
        #expect(receiver.counters.totalDrops == good.count)
        #expect(receiver.counters.accepted == 0)
    }

    @Test func packetFromAnotherClusterLabelIsRejected() throws {
        let key = SecretKey.random()
        var packet = try seal(PacketCodec(keyring: Keyring(primary: key), label: try #require(ClusterLabel("staging"))))
        var receiver = PacketCodec(keyring: Keyring(primary: key), label: try #require(ClusterLabel("prod")))
        var out: [Message] = []
        #expect(!receiver.decode(&packet, into: &out))
        #expect(receiver.counters[.unauthenticated] == 1)
    }

    @Test func unlabelledSenderIsRejectedByLabelledCluster() throws {
        let key = SecretKey.random()
        var packet = try seal(PacketCodec(keyring: Keyring(primary: key)))
        var receiver = PacketCodec(keyring: Keyring(primary: key), label: try #require(ClusterLabel("prod")))
        var out: [Message] = []
        #expect(!receiver.decode(&packet, into: &out))
        #expect(receiver.counters[.unauthenticated] == 1)
    }

    @Test func packetSealedWithAnotherKeyIsRejected() throws {
        var packet = try seal(PacketCodec(keyring: Keyring(primary: .random())))
        var receiver = PacketCodec(keyring: Keyring(primary: .random(), others: [.random(), .random()]))
        var out: [Message] = []
        #expect(!receiver.decode(&packet, into: &out))
        #expect(receiver.counters[.unauthenticated] == 1)
    }

    @Test func headerIsAuthenticated() throws {
        // Rewriting the version byte to one we also accept must still fail: the header is AAD.
        let key = SecretKey.random()
        let good = try seal(PacketCodec(keyring: Keyring(primary: key)))
        var bytes = Array(good.readableBytesView)
        #expect(bytes[1] == PacketHeader.sealed)
        // Both sender and receiver build AAD from version 1 + sealed; prove AAD binds by label.
        bytes[1] = 0
        var b = ByteBuffer(bytes: bytes)
        var out: [Message] = []
        var receiver = PacketCodec(keyring: Keyring(primary: key))
        #expect(!receiver.decode(&b, into: &out))
        #expect(receiver.counters[.notSealed] == 1)
    }

    @Test func rotatedKeyringOpensPacketsUnderTheOldAndTheNewKey() throws {
        let old = SecretKey.random()
        let new = SecretKey.random()
        var oldSender = PacketCodec(keyring: Keyring(primary: old))
        // Rotation step two: the new key is primary, the old one decrypt-only.
        var ring = Keyring(primary: old)
        try ring.install(new)
        try ring.use(new)
        #expect(ring.primary == new)
        #expect(ring.keys == [new, old])
        var receiver = PacketCodec(keyring: ring)
        let newSender = PacketCodec(keyring: ring)
        for sender in [oldSender, newSender] {
            var packet = try seal(sender)
            var out: [Message] = []
            #expect(receiver.decode(&packet, into: &out))
            #expect(out == Self.messages)
        }
        // And a node still on the old key alone cannot open what the rotated node seals.
        var packet = try seal(newSender)
        var out: [Message] = []
        #expect(!oldSender.decode(&packet, into: &out))
        // Step three: old key removed; its packets no longer open.
        try receiver.keyring?.remove(old)
        var stale = try seal(PacketCodec(keyring: Keyring(primary: old)))
        #expect(!receiver.decode(&stale, into: &out))
        #expect(receiver.counters.accepted == 2)
        #expect(receiver.counters[.unauthenticated] == 1)
    }

    @Test func plaintextPacketToASealedNodeIsDropped() throws {
        var packet = try seal(PacketCodec(keyring: nil))
        var receiver = PacketCodec(keyring: Keyring(primary: .random()))
        var out: [Message] = []
        #expect(!receiver.decode(&packet, into: &out))
        #expect(receiver.counters[.notSealed] == 1)
    }

    @Test func labelledPlaintextPacketsOnlyReachTheirCluster() throws {
        let prod = try #require(ClusterLabel("prod"))
        var packet = try seal(PacketCodec(keyring: nil, label: prod))
        var other = PacketCodec(keyring: nil, label: try #require(ClusterLabel("dev")))
        var out: [Message] = []
        #expect(!other.decode(&packet, into: &out))
        #expect(other.counters[.labelMismatch] == 1)
        packet.moveReaderIndex(to: 0)
        var same = PacketCodec(keyring: nil, label: prod)
        #expect(same.decode(&packet, into: &out))
        #expect(out == Self.messages)
    }

    @Test(arguments: [ClusterLabel.none, ClusterLabel("prod"), ClusterLabel(String(repeating: "x", count: 255))])
    func overheadIsExactAndPayloadBudgetFits(label: ClusterLabel?) throws {
        let label = try #require(label)
        for keyring in [nil, Keyring(primary: .random())] as [Keyring?] {
            let codec = PacketCodec(keyring: keyring, label: label)
            var settings = Settings()
            settings.packetOverhead = codec.overhead
            // Fill the payload budget exactly with acks and one padding alive.
            var messages: [Message] = []
            var used = 0
            var seq: UInt32 = 0
            while used + 3 <= settings.payloadBudget {
                let m = Message.ack(Ack(sequence: seq))
                messages.append(m)
                used += m.encodedSize
                seq = (seq + 1) % 100
            }
            var b = ByteBuffer()
            try codec.encode(messages, into: &b, budget: settings.packetBudget)
            #expect(b.readableBytes == used + codec.overhead)
            #expect(b.readableBytes <= settings.packetBudget)
            // One more byte does not fit.
            messages.append(.ack(Ack(sequence: 1)))
            #expect(throws: WireError.self) { try codec.encode(messages, into: &b, budget: settings.packetBudget) }
        }
    }

    @Test func sealedOverheadIsFortyTwoBytes() {
        #expect(PacketHeader.overhead(sealed: true, label: .none) == 42)
        #expect(PacketHeader.overhead(sealed: false, label: .none) == 2)
        #expect(ClusterLabel(String(repeating: "x", count: 256)) == nil)
    }
}
