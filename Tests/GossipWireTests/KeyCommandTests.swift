import GossipCore
import NIOCore
import Testing

@testable import GossipWire

@Suite struct KeyCommandTests {
    /// The key 00 01 02 … 1f.
    static let countingKey: SecretKey = {
        guard let k = try? SecretKey(bytes: (0..<32).map { UInt8($0) }) else { fatalError("32 bytes make a key") }
        return k
    }()

    func encoded(_ r: KeyRequest) -> [UInt8] {
        var b = ByteBuffer()
        r.encode(into: &b)
        return Array(b.readableBytesView)
    }

    func encoded(_ r: KeyResponse) -> [UInt8] {
        var b = ByteBuffer()
        r.encode(into: &b)
        return Array(b.readableBytesView)
    }

    func request(_ bytes: [UInt8]) throws(WireError) -> KeyRequest {
        var b = ByteBuffer(bytes: bytes)
        return try KeyRequest.decode(&b)
    }

    func response(_ bytes: [UInt8]) throws(WireError) -> KeyResponse {
        var b = ByteBuffer(bytes: bytes)
        return try KeyResponse.decode(&b)
    }

    // MARK: golden vectors (Docs/WIRE-FORMAT.md, "Key commands")

    @Test func fingerprintMatchesBLAKE2bComputedElsewhere() throws {
        // Python: hashlib.blake2b(b"grapevine-key-id", key=bytes(range(32)), digest_size=8)
        #expect(Self.countingKey.fingerprint == KeyFingerprint(rawValue: 0xa39e_32f0_4495_80ea))
        #expect("\(Self.countingKey.fingerprint)" == "a39e32f0449580ea")
        let ones = try SecretKey(bytes: [UInt8](repeating: 0xff, count: 32))
        #expect("\(ones.fingerprint)" == "99a12e4b201bdad3")
    }

    @Test func requestsEncodeToPinnedBytes() throws {
        let key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        #expect(encoded(.install(Self.countingKey)) == bytes(hex: "01" + key))
        #expect(encoded(.use(Self.countingKey)) == bytes(hex: "02" + key))
        #expect(encoded(.remove(Self.countingKey)) == bytes(hex: "03" + key))
        #expect(encoded(.list) == bytes(hex: "04"))
        #expect(try request(bytes(hex: "02" + key)) == .use(Self.countingKey))
        #expect(try request(bytes(hex: "04")) == .list)
    }

    @Test func responsesEncodeToPinnedBytes() throws {
        let ok = KeyResponse(
            ok: true, keys: [KeyFingerprint(rawValue: 0x0102_0304_0506_0708), KeyFingerprint(rawValue: 0xa39e_32f0_4495_80ea)])
        // flags 0, empty message, two keys, primary first.
        let okHex = "00 00 02 0102030405060708 a39e32f0449580ea"
        #expect(encoded(ok) == bytes(hex: okHex))
        #expect(ok.primary == KeyFingerprint(rawValue: 0x0102_0304_0506_0708))
        #expect(try response(bytes(hex: okHex)) == ok)
        // failed, message "no key", no keys.
        let failed = KeyResponse(ok: false, message: "no key", keys: [])
        #expect(encoded(failed) == bytes(hex: "01 06 6e6f206b6579 00"))
        #expect(try response(bytes(hex: "01 06 6e6f206b6579 00")) == failed)
    }

    // MARK: round trips

    @Test(arguments: 0..<16 as Range<UInt64>)
    func requestsRoundTrip(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let key = try SecretKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
        for r in [KeyRequest.install(key), .use(key), .remove(key), .list] {
            let bytes = encoded(r)
            #expect(bytes.count == r.encodedSize)
            #expect(try request(bytes) == r)
            #expect(try request(bytes).key == r.key)
            #expect(try request(bytes).operation == r.operation)
        }
    }

    @Test(arguments: 0..<32 as Range<UInt64>)
    func responsesRoundTrip(seed: UInt64) throws {
        var random = RandomMessages(seed: seed)
        let keys = (0..<random.int(0...20)).map { _ in KeyFingerprint(rawValue: random.u64()) }
        let r = KeyResponse(ok: random.bool(), message: random.string(maxBytes: 300), keys: keys)
        let bytes = encoded(r)
        #expect(bytes.count == r.encodedSize)
        #expect(bytes.count <= KeyResponse.maxSize)
        #expect(r.message.utf8.count <= KeyResponse.maxMessageLength)
        #expect(try response(bytes) == r)
    }

    // MARK: bounds

    @Test func aLongListIsTruncatedToFitAndKeepsThePrimary() throws {
        let keys = (1...300).map { KeyFingerprint(rawValue: UInt64($0)) }
        let long = String(repeating: "x", count: 400)
        let full = KeyResponse(ok: true, message: long, keys: keys)
        #expect(full.message.utf8.count == 255)
        #expect(full.keys.count == (1024 - 3 - 255) / 8)
        #expect(full.truncated)
        #expect(full.primary == keys[0])
        #expect(full.encodedSize <= KeyResponse.maxSize)
        #expect(try response(encoded(full)) == full)
        let quiet = KeyResponse(ok: true, keys: keys)
        #expect(quiet.keys.count == (1024 - 3) / 8)
        #expect(quiet.truncated)
        let fits = KeyResponse(ok: true, keys: Array(keys.prefix(16)))
        #expect(!fits.truncated)
        #expect(fits.keys == Array(keys.prefix(16)))
    }

    @Test func aResponderLimitBelowTheBoundCutsKeysThenTheMessage() throws {
        let keys = (1...3).map { KeyFingerprint(rawValue: UInt64($0)) }
        let small = KeyResponse(ok: false, message: "0123456789", keys: keys, limit: 29)
        #expect(small.message == "0123456789")
        #expect(small.keys == [keys[0], keys[1]])
        #expect(small.truncated)
        #expect(small.encodedSize <= 29)
        let tiny = KeyResponse(ok: false, message: "0123456789", keys: keys, limit: 8)
        #expect(tiny.message == "01234")
        #expect(tiny.keys.isEmpty)
        #expect(tiny.encodedSize == 8)
        #expect(KeyResponse(ok: true, keys: keys, limit: 0).encodedSize == 3)
        #expect(try response(encoded(tiny)) == tiny)
    }

    @Test func aLongMessageIsCutAtACharacterBoundary() {
        let r = KeyResponse(ok: false, message: String(repeating: "é", count: 200), keys: [])
        // 127 two-byte characters fit in 255 bytes; the 128th would split.
        #expect(r.message == String(repeating: "é", count: 127))
    }

    // MARK: malformed input

    @Test(arguments: [
        ("", WireError.truncated),
        ("00", .unknownKeyOperation(0)),
        ("05", .unknownKeyOperation(5)),
        ("ff", .unknownKeyOperation(255)),
        ("01", .truncated),
        ("01" + String(repeating: "ab", count: 31), .truncated),
        ("03" + String(repeating: "ab", count: 33), .bodyLengthMismatch),
        ("04 00", .bodyLengthMismatch),
        ("04" + String(repeating: "ab", count: 32), .bodyLengthMismatch),
    ])
    func malformedRequestsAreRefused(hex: String, error: WireError) {
        #expect(throws: error) { try request(bytes(hex: hex)) }
    }

    @Test(arguments: [
        ("", WireError.truncated),
        ("00", .truncated),
        ("04 00 00", .invalidMessageFlags(4)),
        ("80 00 00", .invalidMessageFlags(0x80)),
        ("00 05 6162", .truncated),
        ("00 02 c328 00", .invalidUTF8),
        ("00 00", .truncated),
        ("00 00 02 0102030405060708", .truncated),
        ("00 00 01 0102030405060708 00", .bodyLengthMismatch),
        // 3 + 0 + 8 × 128 bytes would exceed the 1,024-byte bound.
        ("00 00 80", .countTooLarge(128)),
    ])
    func malformedResponsesAreRefused(hex: String, error: WireError) {
        #expect(throws: error) { try response(bytes(hex: hex)) }
    }

    @Test(arguments: 0..<8 as Range<UInt64>)
    func everyPrefixAndRandomBytesAreRefusedWithoutTrapping(seed: UInt64) throws {
        var random = RandomMessages(seed: seed)
        let r = KeyResponse(
            ok: random.bool(), message: random.string(maxBytes: 40),
            keys: (0..<random.int(1...5)).map { _ in KeyFingerprint(rawValue: random.u64()) })
        let whole = encoded(r)
        for n in 0..<whole.count {
            #expect(throws: WireError.self) { try response(Array(whole[0..<n])) }
        }
        let req = encoded(.install(SecretKey.random()))
        for n in 0..<req.count {
            #expect(throws: WireError.self) { try request(Array(req[0..<n])) }
        }
        // Random bytes: decoded or refused, and what decodes re-encodes to the same bytes.
        for _ in 0..<500 {
            let junk = (0..<random.int(0...64)).map { _ in UInt8(random.int(0...255)) }
            if let decoded = try? response(junk) { #expect(encoded(decoded) == junk) }
            if let decoded = try? request(junk) { #expect(encoded(decoded) == junk) }
        }
    }

    // MARK: fingerprints

    @Test func fingerprintsPrintAndParseAsSixteenHexDigits() {
        let f = KeyFingerprint(rawValue: 0x00ab_cdef_0123_4567)
        #expect("\(f)" == "00abcdef01234567")
        #expect(KeyFingerprint(hex: "00abcdef01234567") == f)
        #expect(KeyFingerprint(hex: "00ABCDEF01234567") == f)
        for bad in ["", "00abcdef0123456", "00abcdef012345678", "00abcdef0123456g", "00abcdef 1234567"] {
            #expect(KeyFingerprint(hex: bad) == nil, "\(bad)")
        }
        let k = SecretKey.random()
        #expect(KeyFingerprint(hex: "\(k.fingerprint)") == k.fingerprint)
    }
}
