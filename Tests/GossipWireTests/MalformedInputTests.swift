import GossipCore
import NIOCore
import Testing

@testable import GossipWire

/// Every decoder path refuses bad input with a `WireError` (never a trap), and anything it does
/// accept re-encodes to the very bytes it came from.
@Suite struct MalformedInputTests {
    private func decodePacket(_ bytes: [UInt8], codec: PacketCodec = PacketCodec(keyring: nil)) -> Result<[Message], WireError> {
        var b = ByteBuffer(bytes: bytes)
        var out: [Message] = []
        do {
            _ = try codec.open(&b, into: &out)
            return .success(out)
        } catch {
            return .failure(error)
        }
    }

    @Test(arguments: 0..<24 as Range<UInt64>)
    func everyPrefixOfAMessagePacketIsRefused(seed: UInt64) throws {
        var r = RandomMessages(seed: seed)
        let codec = PacketCodec(keyring: nil)
        for _ in 0..<20 {
            let m = r.message()
            var b = ByteBuffer()
            try codec.encode([m], into: &b, budget: 65_507)
            let full = Array(b.readableBytesView)
            for n in 0..<full.count {
                guard case .failure = decodePacket(Array(full[0..<n])) else {
                    Issue.record("seed \(seed): prefix \(n) of \(full.hex) accepted")
                    return
                }
            }
            #expect(try decodePacket(full).get() == [m])
        }
    }

    @Test(arguments: 0..<16 as Range<UInt64>)
    func everyPrefixOfABodyIsRefused(seed: UInt64) throws {
        var r = RandomMessages(seed: seed)
        for _ in 0..<20 {
            let m = r.message()
            var b = ByteBuffer()
            b.writeMessageBody(m)
            for n in 0..<b.readableBytes {
                var prefix = b.getSlice(at: b.readerIndex, length: n) ?? ByteBuffer()
                #expect(throws: WireError.self) { try ByteBuffer.decodeMessageBody(type: m.type, &prefix) }
            }
        }
        let p = r.pushPull(maxMembers: 5)
        var b = ByteBuffer()
        b.writePushPullBody(p)
        for n in 0..<b.readableBytes {
            var prefix = b.getSlice(at: b.readerIndex, length: n) ?? ByteBuffer()
            #expect(throws: WireError.self) { try ByteBuffer.decodePushPullBody(&prefix) }
        }
    }

    @Test(arguments: 0..<64 as Range<UInt64>)
    func randomBytesNeverTrapAndAcceptedInputIsCanonical(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        var accepted = 0
        for _ in 0..<2_000 {
            let n = Int.random(in: 0...64, using: &rng)
            var bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Half the time a valid header, so that the compound decoder gets exercised.
            if bytes.count >= 2, Bool.random(using: &rng) { bytes[0] = 1; bytes[1] = 0 }
            var b = ByteBuffer(bytes: bytes)
            var out: [Message] = []
            guard let skipped = try? PacketCodec(keyring: nil).open(&b, into: &out) else { continue }
            accepted += 1
            if skipped == 0 {
                var again = ByteBuffer()
                try PacketCodec(keyring: nil).encode(out, into: &again, budget: 65_507)
                #expect(Array(again.readableBytesView) == bytes, "seed \(seed)")
            }
        }
        // Not a requirement, just a sign the generator reaches past the header check.
        #expect(accepted >= 0)
    }

    @Test(arguments: 0..<16 as Range<UInt64>)
    func flippedBytesOfValidPacketsNeverTrap(seed: UInt64) throws {
        var r = RandomMessages(seed: seed)
        let messages = (0..<r.int(1...8)).map { _ in r.message() }
        var b = ByteBuffer()
        try PacketCodec(keyring: nil).encode(messages, into: &b, budget: 65_507)
        let full = Array(b.readableBytesView)
        for _ in 0..<500 {
            var mutated = full
            for _ in 0..<r.int(1...3) {
                mutated[r.int(0...(mutated.count - 1))] = UInt8.random(in: 0...255, using: &r.rng)
            }
            if case .success(let out) = decodePacket(mutated), !out.isEmpty {
                var again = ByteBuffer()
                try PacketCodec(keyring: nil).encode(out, into: &again, budget: 65_507)
                // Accepted only if canonical, or if unknown types were skipped (then shorter).
                #expect(again.readableBytes <= mutated.count)
            }
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var hex: String
        var error: WireError
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "empty datagram", hex: "", error: .truncated),
        Case(name: "header only", hex: "0100", error: .emptyPacket),
        Case(name: "future version", hex: "0200 0301 01", error: .unsupportedVersion(2)),
        Case(name: "unknown header flag", hex: "0104 0301 01", error: .unknownHeaderFlags(4)),
        Case(name: "sealed and labelled", hex: "0103 0301 01", error: .unknownHeaderFlags(3)),
        Case(name: "sealed without keyring", hex: "0101" + String(repeating: "00", count: 41), error: .noKeyring),
        Case(name: "labelled without label", hex: "0102 04 7072", error: .truncated),
        Case(name: "label we do not have", hex: "0102 01 78 0301 01", error: .labelMismatch),
        // Found by scripts/fuzz-wire.sh: an empty label sent labelled was accepted, giving the
        // packet a second encoding.
        Case(name: "fuzz: labelled with an empty label", hex: "0102 00 0301 00", error: .labelMismatch),
        Case(name: "body length past the end", hex: "0100 0305 01", error: .truncated),
        Case(name: "body longer than its fields", hex: "0100 0302 0100", error: .bodyLengthMismatch),
        Case(name: "sequence wider than 32 bits", hex: "0100 0305 8080808010", error: .varintOverflow),
        Case(name: "overlong varint", hex: "0100 0302 8000", error: .nonCanonicalVarint),
        Case(name: "varint of 11 bytes", hex: "0100 050b ffffffffffffffffffff01", error: .varintOverflow),
        Case(name: "tenth varint byte too big", hex: "0100 050a ffffffffffffffffff02", error: .varintOverflow),
        Case(name: "stream-only type in a datagram", hex: "0100 0800", error: .unexpectedType(8)),
        Case(name: "type zero", hex: "0100 0000", error: .unexpectedType(0)),
        Case(name: "must-understand type", hex: "0100 8000", error: .unexpectedType(0x80)),
        Case(name: "name too long", hex: "0100 0603 00 8101", error: .nameTooLong(129)),
        Case(name: "name length absurd", hex: "0100 060b 00 ffffffffffffffffff01", error: .nameTooLong(Int.max)),
        Case(name: "invalid UTF-8 name", hex: "0100 0605 00 01ff 0161", error: .invalidUTF8),
        Case(name: "bad address family", hex: "0100 0504 00 0161 05", error: .invalidAddressFamily(5)),
        Case(name: "address cut short", hex: "0100 0506 00 0161 040a00", error: .truncated),
        Case(name: "unknown ping-req flag", hex: "0100 0214 01 0174 04 01020304 0050 0172 04 05060708 0051 02", error: .invalidMessageFlags(2)),
        Case(name: "unknown dead flag", hex: "0100 0706 03 0161 0161 03", error: .invalidMessageFlags(3)),
        Case(name: "too many tags", hex: "0100 050b 00 0161 04 7f000001 0001 41", error: .tagsTooLarge),
        Case(name: "tag string too long", hex: "0100 050d 00 0161 04 7f000001 0001 01 8120", error: .tagsTooLarge),
        Case(name: "duplicate tag keys", hex: "0100 0511 00 0161 04 7f000001 0001 02 0161 00 0161 00", error: .unsortedTags),
        // Issue 8: one plaintext datagram with incarnation 2^64-1 made its receiver trap.
        Case(
            name: "incarnation 2^64-1", hex: "0100 0514 ffffffffffffffffff01 0161 04 7f000001 0001 00",
            error: .incarnationOutOfRange(.max)),
        Case(name: "incarnation above the ceiling", hex: "0100 0513 818080808080808040 0161 04 7f000001 0001 00",
            error: .incarnationOutOfRange(Limits.maxIncarnation + 1)),
        Case(name: "state tombstone with a value", hex: "0100 0d0a 0174 016f 016b 02 01 01aa", error: .bodyLengthMismatch),
        Case(name: "unknown state row flag", hex: "0100 0d09 0174 016f 016b 02 02 00", error: .invalidMessageFlags(2)),
        Case(
            name: "state version above the ceiling", hex: "0100 0d11 0174 016f 016b 818080808080808040 00 00",
            error: .incarnationOutOfRange(Limits.maxIncarnation + 1)),
        Case(name: "state key too long", hex: "0100 0d06 0174 016f 8104", error: .nameTooLong(513)),
        Case(
            name: "state newest above the ceiling", hex: "0100 0e0b 016f 818080808080808040",
            error: .incarnationOutOfRange(Limits.maxIncarnation + 1)),
        Case(name: "state newest with bytes left over", hex: "0100 0e04 016f 0100", error: .bodyLengthMismatch),
        Case(name: "state newest cut short", hex: "0100 0e02 016f", error: .truncated),
        Case(name: "unsorted tag keys", hex: "0100 0511 00 0161 04 7f000001 0001 02 0162 00 0161 00", error: .unsortedTags),
    ]

    @Test(arguments: cases)
    func malformedPacketIsRefusedWithItsReason(_ c: Case) {
        #expect(decodePacket(bytes(hex: c.hex)) == .failure(c.error))
    }

    @Test func unknownNewerTypesAreSkippedAndCounted() throws {
        var codec = PacketCodec(keyring: nil)
        // An ack, a type-100 message of 3 bytes, a type-127 message of none, a nack.
        var b = ByteBuffer(bytes: bytes(hex: "0100 0301 01 6403 aabbcc 7f00 0401 02"))
        var out: [Message] = []
        #expect(codec.decode(&b, into: &out))
        #expect(out == [.ack(Ack(sequence: 1)), .nack(Nack(sequence: 2))])
        #expect(codec.counters.skippedUnknown == 2)
        #expect(codec.counters.accepted == 1)
    }

    @Test func aFailedPacketDeliversNothingAndIsCounted() {
        var codec = PacketCodec(keyring: nil)
        var b = ByteBuffer(bytes: bytes(hex: "0100 0301 01 0302 8000"))
        var out: [Message] = [.ack(Ack(sequence: 9))]
        #expect(!codec.decode(&b, into: &out))
        #expect(out == [.ack(Ack(sequence: 9))])
        #expect(codec.counters[.nonCanonicalVarint] == 1)
        #expect(codec.counters.totalDrops == 1)
    }

    @Test func pushPullCountBeyondTheBytesPresentIsRefused() {
        // flags, sender "s", 10.0.0.2:2, then a member count of 2^32 and nothing else.
        var b = ByteBuffer(bytes: bytes(hex: "00 0173 04 0a000002 0002 8080808010"))
        #expect(throws: WireError.countTooLarge(1 << 32)) { try ByteBuffer.decodePushPullBody(&b) }
    }

    @Test func stateSectionCountsBeyondTheBytesPresentAreRefused() {
        for type in ["03", "04"] {
            var b = ByteBuffer(bytes: bytes(hex: "00 0173 04 0a000002 0002 01 \(type) 01 7f"))
            #expect(throws: WireError.countTooLarge(127)) { try ByteBuffer.decodePushPullBody(&b) }
        }
    }

    @Test func pushPullUnknownStatusIsRefused() {
        var b = ByteBuffer(bytes: bytes(hex: "00 0173 04 0a000002 0002 01 01 0d 01 016d 04 0a000003 0003 04 07 00"))
        #expect(throws: WireError.invalidStatus(7)) { try ByteBuffer.decodePushPullBody(&b) }
    }

    @Test func pushPullUnknownFlagIsRefused() {
        var b = ByteBuffer(bytes: bytes(hex: "08 0173 04 0a000002 0002 00"))
        #expect(throws: WireError.invalidMessageFlags(8)) { try ByteBuffer.decodePushPullBody(&b) }
    }

    @Test func pushPullSectionLongerThanItsBodyIsRefused() {
        // One members section announcing 0x20 bytes with three present.
        var b = ByteBuffer(bytes: bytes(hex: "00 0173 04 0a000002 0002 01 01 20 010000"))
        #expect(throws: WireError.truncated) { try ByteBuffer.decodePushPullBody(&b) }
    }

    @Test func pushPullSectionWithBytesLeftOverIsRefused() {
        // A members section of zero members, with one byte after the count inside its length.
        var b = ByteBuffer(bytes: bytes(hex: "00 0173 04 0a000002 0002 01 01 02 00ff"))
        #expect(throws: WireError.bodyLengthMismatch) { try ByteBuffer.decodePushPullBody(&b) }
    }

    @Test func unknownSectionsAreSkippedAndCounted() throws {
        // A section of type 99 (three bytes), then an empty members section.
        var b = ByteBuffer(bytes: bytes(hex: "00 0173 04 0a000002 0002 02 63 03 aabbcc 01 01 00"))
        let p = try ByteBuffer.decodePushPullBody(&b)
        #expect(p.sections == [.unknown(type: 99), .members([])])
        #expect(p.unknownSections == 1)
    }

    /// A frame cut short in the middle of a multi-frame exchange is refused with a counted
    /// reason; the frames before it were decoded whole.
    @Test func aTruncatedFrameOfAMultiFrameExchangeIsCounted() throws {
        var codec = StreamCodec(keyring: nil, maxFrameSize: 64 << 10)
        let members = (0..<5_000).map { i in
            MemberState(name: "member-\(i)", address: Address(ipv4: 0x0a00_0000 + UInt32(i), port: 7946), incarnation: 1, status: .alive, tags: Tags())
        }
        let sections = (0..<5).map { k in PushPullSection.members(Array(members[(k * 1_000)..<((k + 1) * 1_000)])) }
        let p = PushPull(join: false, isReply: false, sender: "s", senderAddress: Address(ipv4: 0x0a00_0002, port: 2), sections: sections)
        var all = ByteBuffer()
        try codec.encode(.stream(.pushPull(p)), into: &all)
        var cut = all.getSlice(at: all.readerIndex, length: all.readableBytes - 10)!
        var frames = 0
        while case .item = try codec.decode(&cut) { frames += 1 }
        #expect(frames >= 1)
        #expect(codec.counters.totalDrops == 0, "a frame not yet complete waits for more bytes")
        // The connection then ends: the bytes left are less than the frame announced.
        #expect(cut.readableBytes > 0)
        // A frame whose length field is corrupted beyond the cap is refused and counted.
        var bad = all.getSlice(at: all.readerIndex, length: all.readableBytes)!
        bad.setInteger(UInt32(1 << 30), at: bad.readerIndex + 2)
        #expect(throws: WireError.frameTooLarge(1 << 30)) { try codec.decode(&bad) }
        #expect(codec.counters[.frameTooLarge] == 1)
    }
}
