import GossipCore
import NIOCore
import Testing

@testable import GossipWire

@Suite struct StreamCodecTests {
    static let configurations: [(sealed: Bool, label: String)] = [(false, ""), (false, "prod"), (true, ""), (true, "prod")]

    @Test(arguments: 0..<8 as Range<UInt64>, [false, true])
    func framesRoundTripWhenFedByteByByte(seed: UInt64, sealed: Bool) throws {
        var r = RandomMessages(seed: seed)
        let ring = sealed ? Keyring(primary: .random()) : nil
        let label = ClusterLabel(seed % 2 == 0 ? "" : "prod") ?? .none
        let sender = StreamCodec(keyring: ring, label: label)
        var receiver = StreamCodec(keyring: ring, label: label)
        let items: [StreamItem] = [.stream(.pushPull(r.pushPull())), .message(r.message()), .stream(.pushPull(r.pushPull(maxMembers: 2)))]
        var wire = ByteBuffer()
        for item in items { try sender.encode(item, into: &wire) }
        #expect(wire.readableBytes == items.reduce(0) { $0 + $1.encodedSize + sender.overhead })
        // Deliver in small random chunks, as TCP would.
        var inbox = ByteBuffer()
        var got: [StreamItem] = []
        while wire.readableBytes > 0 {
            let n = min(wire.readableBytes, r.int(1...50))
            var chunk = wire.readSlice(length: n) ?? ByteBuffer()
            inbox.writeBuffer(&chunk)
            while case .item(let item) = try receiver.decode(&inbox) { got.append(item) }
        }
        #expect(got == items)
        #expect(receiver.counters.accepted == items.count)
    }

    /// Found by wire-fuzz (fuzz-artifacts/crash-bcdf0bd3…): a push/pull frame marked `more` (one
    /// of several) re-encoded without the flag, so one value had two accepted encodings.
    @Test func aFrameMarkedMoreReEncodesToItsOwnBytes() throws {
        let frame: [UInt8] = [1, 0, 0, 0, 0, 18, 8, 16, 5, 6, 110, 111, 100, 101, 49, 49, 4, 10, 0, 0, 1, 31, 45, 0]
        var codec = StreamCodec(keyring: nil, maxFrameSize: 1 << 16)
        var input = ByteBuffer(bytes: frame)
        guard case .item(let item) = try codec.decode(&input) else {
            Issue.record("the frame did not decode")
            return
        }
        guard case .stream(.pushPull(let p)) = item else {
            Issue.record("not a push/pull: \(item)")
            return
        }
        #expect(p.more && p.join && p.sections.isEmpty)
        var again = ByteBuffer()
        try StreamCodec(keyring: nil, maxFrameSize: 1 << 16).encode(item, into: &again)
        #expect(Array(again.readableBytesView) == frame)
    }

    @Test func oversizedFrameIsReportedFromItsPrefixAlone() {
        var receiver = StreamCodec(keyring: nil, maxFrameSize: 1024)
        var b = ByteBuffer(bytes: bytes(hex: "01 00 00000401"))
        #expect(throws: WireError.frameTooLarge(1025)) { try receiver.decode(&b) }
        #expect(receiver.counters[.frameTooLarge] == 1)
    }

    @Test func senderRefusesFramesOverTheLimit() {
        let sender = StreamCodec(keyring: nil, maxFrameSize: 100)
        var r = RandomMessages(seed: 1)
        let p = PushPull(
            join: false, isReply: false, sender: "s", senderAddress: Address(ipv4: 1, port: 1),
            members: (0..<20).map { _ in r.memberState() })
        var b = ByteBuffer()
        #expect(throws: WireError.self) { try sender.encode(.stream(.pushPull(p)), into: &b) }
        #expect(b.readableBytes == 0)
    }

    @Test func garbageIsRefusedAtTheFirstByte() {
        var receiver = StreamCodec(keyring: nil)
        var b = ByteBuffer(string: "GET / HTTP/1.1\r\n")
        #expect(throws: WireError.unsupportedVersion(UInt8(ascii: "G"))) { try receiver.decode(&b) }
    }

    @Test func partialPrefixWaitsForMoreData() throws {
        var receiver = StreamCodec(keyring: nil)
        for n in 0..<9 {
            var b = ByteBuffer(bytes: Array(bytes(hex: "01 00 00000003 0301 01")[0..<n]))
            #expect(try receiver.decode(&b) == .needMoreData)
        }
    }

    @Test func unknownTypeFrameIsSkippedAndTheStreamGoesOn() throws {
        var receiver = StreamCodec(keyring: nil)
        var b = ByteBuffer(bytes: bytes(hex: "01 00 00000003 6401 00  01 00 00000003 0301 05"))
        #expect(try receiver.decode(&b) == .skipped(type: 100))
        #expect(try receiver.decode(&b) == .item(.message(.ack(Ack(sequence: 5)))))
        #expect(receiver.counters.skippedUnknown == 1)
    }

    @Test func labelledFrameWithAnEmptyLabelIsRefused() {
        var receiver = StreamCodec(keyring: nil)
        var b = ByteBuffer(bytes: bytes(hex: "01 02 00000004 00 0301 01"))
        #expect(throws: WireError.labelMismatch) { try receiver.decode(&b) }
    }

    @Test func itemShorterThanItsFrameIsRefused() {
        var receiver = StreamCodec(keyring: nil)
        var b = ByteBuffer(bytes: bytes(hex: "01 00 00000004 0301 01 00"))
        #expect(throws: WireError.bodyLengthMismatch) { try receiver.decode(&b) }
    }

    @Test func tamperedWrongKeyAndWrongLabelFramesAreRefused() throws {
        let key = SecretKey.random()
        let prod = try #require(ClusterLabel("prod"))
        let item = StreamItem.message(.ack(Ack(sequence: 1)))
        var good = ByteBuffer()
        try StreamCodec(keyring: Keyring(primary: key), label: prod).encode(item, into: &good)
        // Every byte after the prefix is covered by the tag; the length byte is AAD too.
        for i in 5..<good.readableBytes {
            var bad = good
            bad.setInteger((bad.getInteger(at: i, as: UInt8.self) ?? 0) ^ 0x20, at: i)
            var receiver = StreamCodec(keyring: Keyring(primary: key), label: prod)
            #expect(throws: WireError.self) {
                _ = try receiver.decode(&bad)
                _ = try receiver.decode(&bad)
            }
        }
        var copy = good
        var wrongLabel = StreamCodec(keyring: Keyring(primary: key), label: try #require(ClusterLabel("dev")))
        #expect(throws: WireError.unauthenticated) { try wrongLabel.decode(&copy) }
        copy = good
        var wrongKey = StreamCodec(keyring: Keyring(primary: .random()), label: prod)
        #expect(throws: WireError.unauthenticated) { try wrongKey.decode(&copy) }
        copy = good
        var plain = StreamCodec(keyring: nil, label: prod)
        #expect(throws: WireError.noKeyring) { try plain.decode(&copy) }
        copy = good
        var right = StreamCodec(keyring: Keyring(primary: .random(), others: [key]), label: prod)
        #expect(try right.decode(&copy) == .item(item))
    }

    @Test(arguments: 0..<32 as Range<UInt64>)
    func randomStreamBytesNeverTrap(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<500 {
            var bytes = (0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if bytes.count >= 6, Bool.random(using: &rng) {
                bytes[0] = 1
                bytes[1] = 0
                bytes[2] = 0
                bytes[3] = 0
                bytes[4] = 0
                bytes[5] = UInt8(bytes.count - 6)
            }
            var receiver = StreamCodec(keyring: nil, maxFrameSize: 1 << 16)
            var b = ByteBuffer(bytes: bytes)
            // Either frames, a wait for more, or an error: all fine, as long as nothing traps.
            while let next = try? receiver.decode(&b), next != .needMoreData {}
        }
    }

    /// 10,000 members do not meet the frame cap: the exchange goes as several frames of at
    /// most `maxFrameSize` bytes, all but the last flagged `more`, and comes back whole.
    @Test(arguments: [false, true]) func tenThousandMembersGoAsSeveralFramesAndComeBackWhole(sealed: Bool) throws {
        let keyring = sealed ? Keyring(primary: SecretKey.random()) : nil
        var codec = StreamCodec(keyring: keyring, maxFrameSize: 64 << 10)
        let members = (0..<10_000).map { i in
            MemberState(
                name: "member-\(i)", address: Address(ipv4: 0x0a00_0000 + UInt32(i), port: 7946), incarnation: UInt64(i),
                status: .alive, tags: ["role": "r\(i % 7)"])
        }
        var sections: [PushPullSection] = []
        var i = 0
        while i < members.count {
            sections.append(.members(Array(members[i..<min(i + 700, members.count)])))
            i += 700
        }
        let p = PushPull(join: true, isReply: false, sender: "s", senderAddress: Address(ipv4: 0x0a00_0002, port: 2), sections: sections)
        var buffer = ByteBuffer()
        try codec.encode(.stream(.pushPull(p)), into: &buffer)
        var frames: [PushPull] = []
        var largest = 0
        while true {
            let before = buffer.readableBytes
            guard case .item(.stream(.pushPull(let f))) = try codec.decode(&buffer) else { break }
            largest = max(largest, before - buffer.readableBytes)
            frames.append(f)
        }
        #expect(buffer.readableBytes == 0)
        #expect(frames.count > 1)
        #expect(largest <= StreamCodec.prefixSize + (64 << 10))
        #expect(frames.dropLast().allSatisfy(\.more) && frames.last?.more == false)
        #expect(frames.allSatisfy { $0.join && $0.sender == "s" })
        #expect(frames.flatMap(\.members) == members)
    }
}
