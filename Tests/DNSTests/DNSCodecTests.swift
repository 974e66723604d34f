import struct GrapevineTestSupport.SplitMix
import DNS
import NIOCore
import Testing

@Suite struct DNSCodecTests {
    /// `dig @server web.net A` as sent by dig 9.18 (no EDNS option), byte for byte.
    static let query: [UInt8] = [
        0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
        3, 0x77, 0x65, 0x62, 3, 0x6e, 0x65, 0x74, 0, 0, 1, 0, 1,
    ]

    @Test func decodesAQuery() throws {
        let m = try DNSMessage.decode(ByteBuffer(bytes: Self.query))
        #expect(m.id == 0xabcd)
        #expect(m.flags.recursionDesired && !m.flags.response)
        #expect(m.questions == [DNSQuestion(name: try DNSName("web.net"), type: DNSType.a)])
        #expect(m.answers.isEmpty && m.additionals.isEmpty)
    }

    @Test func answerUsesAPointerToTheQuestion() throws {
        var flags = DNSFlags()
        flags.response = true
        flags.authoritative = true
        let name = try DNSName("web.net")
        let m = DNSMessage(id: 7, flags: flags, questions: [DNSQuestion(name: name, type: DNSType.a)],
                           answers: [DNSRecord(name: name, type: DNSType.a, ttl: 0, data: [10, 0, 0, 2]),
                                     DNSRecord(name: name, type: DNSType.a, ttl: 0, data: [10, 0, 0, 3])])
        var b = ByteBuffer()
        try m.encode(into: &b)
        let bytes = Array(b.readableBytesView)
        // header 12, question 9 + 4, each answer: pointer 2 + 10 + 4.
        #expect(bytes.count == 12 + 13 + 2 * 16)
        #expect(bytes[25] == 0xC0 && bytes[26] == 12)
        #expect(try DNSMessage.decode(b) == m)
    }

    @Test func namesCompareWithoutCase() throws {
        #expect(try DNSName("Web.NET").lowercased == DNSName("web.net"))
        #expect(try DNSName("web.net.") == DNSName("web.net"))
        #expect(try DNSName("a\u{1}b").description == "a\\001b")
        // dns-fuzz's first find: U+0604 is a grapheme "prepend" mark that joins the next dot.
        #expect(try DNSName("\u{0}.\u{604}.\u{0}").labels == [[0], [0xD8, 0x84], [0]])
    }

    @Test func refusesLabelsAndNamesOverTheirLimits() throws {
        #expect(throws: DNSError.labelTooLong(64)) { try DNSName(labels: [[UInt8](repeating: 0x61, count: 64)]) }
        #expect(throws: DNSError.badText) { try DNSName("a..b") }
        // 4 labels of 63: 4 * 64 + 1 = 257 bytes.
        let long = [[UInt8]](repeating: [UInt8](repeating: 0x61, count: 63), count: 4)
        #expect(throws: DNSError.nameTooLong) { try DNSName(labels: long) }
        #expect(throws: Never.self) { try DNSName(labels: Array(long.prefix(3)) + [[UInt8](repeating: 0x61, count: 61)]) }
    }

    @Test func refusesAPointerLoop() {
        // The question's name is a pointer to itself.
        let bytes: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1]
        #expect(throws: DNSError.badPointer(12)) { try DNSMessage.decode(ByteBuffer(bytes: bytes)) }
    }

    @Test func refusesAPointerForward() {
        let bytes: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 18, 0, 1, 0, 1, 1, 0x61, 0]
        #expect(throws: DNSError.badPointer(18)) { try DNSMessage.decode(ByteBuffer(bytes: bytes)) }
    }

    @Test func refusesTwoPointersChasingEachOther() {
        // An answer name at 27 pointing to 12, where the question's name "a" ends in a pointer
        // to 27: the second jump does not go below the first's target.
        let bytes: [UInt8] = [0, 1, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0,
                              1, 0x61, 0xC0, 14, 0, 1, 0, 1]
        #expect(throws: DNSError.self) { try DNSMessage.decode(ByteBuffer(bytes: bytes)) }
    }

    @Test func refusesANameGrownPastTheLimitThroughPointers() {
        // Question 1: 3 labels of 63 (193 bytes); question 2: two labels of 63, then a pointer to it.
        var bytes: [UInt8] = [0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0]
        for _ in 0..<3 { bytes += [63] + [UInt8](repeating: 0x61, count: 63) }
        bytes += [0, 0, 1, 0, 1]
        for _ in 0..<2 { bytes += [63] + [UInt8](repeating: 0x62, count: 63) }
        bytes += [0xC0, 12, 0, 1, 0, 1]
        #expect(throws: DNSError.nameTooLong) { try DNSMessage.decode(ByteBuffer(bytes: bytes)) }
    }

    @Test func refusesCountsTheMessageCannotHold() {
        let bytes: [UInt8] = [0, 1, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]
        #expect(throws: DNSError.badCount(0x1FFFE)) { try DNSMessage.decode(ByteBuffer(bytes: bytes)) }
    }

    @Test func refusesExtendedLabelTypesTrailingBytesAndShortData() {
        #expect(throws: DNSError.badLabelType(0x41)) {
            try DNSMessage.decode(ByteBuffer(bytes: [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 0, 0, 1, 0, 1]))
        }
        #expect(throws: DNSError.trailingBytes(1)) { try DNSMessage.decode(ByteBuffer(bytes: Self.query + [0])) }
        let shortData: [UInt8] = [0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 10, 0]
        #expect(throws: DNSError.badDataLength(4)) { try DNSMessage.decode(ByteBuffer(bytes: shortData)) }
        #expect(throws: DNSError.truncated) { try DNSMessage.decode(ByteBuffer(bytes: Array(Self.query.prefix(20)))) }
    }

    @Test func headerOfADamagedMessage() {
        let h = DNSMessage.header(of: ByteBuffer(bytes: Array(Self.query.prefix(14))))
        #expect(h?.id == 0xabcd)
        #expect(DNSMessage.header(of: ByteBuffer(bytes: [1, 2, 3])) == nil)
    }

    /// Random messages built from parts: encode, decode, equal.
    @Test(arguments: [1, 2, 3, 4] as [UInt64]) func roundTrips(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        for _ in 0..<200 {
            let names = try (0..<3).map { _ in
                try DNSName(labels: (0..<Int(rng.next() % 4)).map { _ in
                    (0..<Int(rng.next() % 8 + 1)).map { _ in [0x61, 0x41, 0x2E, 0, 0xFF][Int(rng.next() % 5)] }
                })
            }
            func record() -> DNSRecord {
                DNSRecord(name: names[Int(rng.next() % 3)], type: UInt16(truncatingIfNeeded: rng.next()),
                          recordClass: 1, ttl: UInt32(truncatingIfNeeded: rng.next()),
                          data: (0..<Int(rng.next() % 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            }
            let m = DNSMessage(id: UInt16(truncatingIfNeeded: rng.next()), flags: DNSFlags(),
                               questions: [DNSQuestion(name: names[0], type: 1)],
                               answers: (0..<Int(rng.next() % 4)).map { _ in record() },
                               authorities: (0..<Int(rng.next() % 2)).map { _ in record() },
                               additionals: (0..<Int(rng.next() % 2)).map { _ in record() })
            var b = ByteBuffer()
            try m.encode(into: &b)
            #expect(try DNSMessage.decode(b) == m)
        }
    }
}

