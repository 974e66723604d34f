import Testing

@testable import GossipWire

@Suite struct KeyringTests {
    // RFC 4648 section 10.
    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ])
    func base64MatchesRFC4648(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test(arguments: ["Zg=", "Zh==", "Zm9=", "Z===", "====", "Zm9v!A==", "Zg==Zg==", "Zm 9v", "=Zg="])
    func base64RefusesNonCanonicalText(_ text: String) {
        #expect(Base64.decode(text) == nil)
    }

    @Test func base64RoundTripsEveryByteValueAndLength() {
        let all = (0...255).map { UInt8($0) }
        for n in 0...all.count {
            #expect(Base64.decode(Base64.encode(all[0..<n])) == Array(all[0..<n]))
        }
        #expect(Base64.decode(" Zm9v\n") == Array("foo".utf8))
    }

    @Test func keysRoundTripThroughBase64() throws {
        let k = SecretKey.random()
        let text = k.base64
        #expect(text.utf8.count == 44)
        #expect(try SecretKey(base64: text) == k)
        #expect(try SecretKey(base64: text + "\n") == k)
        #expect(k != SecretKey.random())
        #expect("\(k.fingerprint)".utf8.count == 16)
    }

    @Test func badKeysAreRefused() {
        #expect(throws: KeyringError.invalidKeyLength(16)) { try SecretKey(bytes: [UInt8](repeating: 1, count: 16)) }
        #expect(throws: KeyringError.invalidBase64) { try SecretKey(base64: "not base64") }
        #expect(throws: KeyringError.invalidKeyLength(3)) { try SecretKey(base64: "Zm9v") }
    }

    @Test func keyringOperations() throws {
        let a = SecretKey.random()
        let b = SecretKey.random()
        let c = SecretKey.random()
        var ring = Keyring(primary: a, others: [b, b])
        #expect(ring.keys == [a, b])
        try ring.install(c)
        try ring.install(try SecretKey(base64: c.base64))
        #expect(ring.keys == [a, b, c])
        try ring.use(c)
        #expect(ring.keys == [c, a, b])
        #expect(throws: KeyringError.cannotRemovePrimary) { try ring.remove(c) }
        try ring.remove(a)
        #expect(ring.keys == [c, b])
        #expect(throws: KeyringError.unknownKey) { try ring.remove(a) }
        #expect(throws: KeyringError.unknownKey) { try ring.use(a) }
    }

    @Test func aFullKeyringRefusesAnotherKeyAndStaysAsItWas() throws {
        var ring = Keyring(primary: SecretKey.random())
        for _ in 1..<Keyring.maxKeys { try ring.install(SecretKey.random()) }
        let before = ring
        #expect(ring.keys.count == Keyring.maxKeys)
        #expect(throws: KeyringError.keyringFull) { try ring.install(SecretKey.random()) }
        #expect(ring == before)
        // A key held already is no addition.
        try ring.install(ring.keys[3])
        #expect(ring == before)
    }
}
