import CSodium

/// A 32-byte XChaCha20-Poly1305 key. The bytes live in memory this object owns and are wiped
/// with `sodium_memzero` when the last reference goes, so a key removed from every keyring
/// does not linger on the heap.
public final class SecretKey: @unchecked Sendable, Hashable, CustomStringConvertible {
    // @unchecked: the bytes are written once in init and only read afterwards (until deinit),
    // so sharing across threads is safe.
    public static let size = 32
    private let bytes: UnsafeMutablePointer<UInt8>

    private init(uninitialized: Void) {
        bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: Self.size)
        bytes.initialize(repeating: 0, count: Self.size)
    }

    public convenience init(bytes source: some Collection<UInt8>) throws(KeyringError) {
        guard source.count == Self.size else { throw .invalidKeyLength(source.count) }
        self.init(uninitialized: ())
        for (i, b) in source.enumerated() { bytes[i] = b }
    }

    /// Parses standard base64 (the form `grapevine keygen` prints and key files hold).
    public convenience init(base64: some StringProtocol) throws(KeyringError) {
        guard var decoded = Base64.decode(base64) else { throw .invalidBase64 }
        defer { decoded.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) } }
        try self.init(bytes: decoded)
    }

    /// A fresh key from libsodium's CSPRNG.
    public static func random() -> SecretKey {
        _ = sodiumInitialized
        let key = SecretKey(uninitialized: ())
        randombytes_buf(key.bytes, size)
        return key
    }

    deinit {
        sodium_memzero(bytes, Self.size)
        bytes.deallocate()
    }

    public var base64: String { Base64.encode(UnsafeBufferPointer(start: bytes, count: Self.size)) }

    func withUnsafeBytes<R>(_ body: (UnsafePointer<UInt8>) -> R) -> R { body(bytes) }

    /// Constant-time comparison, so that looking a key up does not leak its bytes by timing.
    public static func == (a: SecretKey, b: SecretKey) -> Bool {
        a === b || sodium_memcmp(a.bytes, b.bytes, size) == 0
    }

    /// Hashes a fingerprint only (never the key) so keys can sit in sets without exposing bytes.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(fingerprint)
    }

    /// The key's public name (`KeyFingerprint`): BLAKE2b of the context "grapevine-key-id",
    /// keyed with the key, cut to 8 bytes. The listing reveals nothing about the key itself.
    public var fingerprint: KeyFingerprint {
        var digest = [UInt8](repeating: 0, count: KeyFingerprint.size)
        let context = Array("grapevine-key-id".utf8)
        digest.withUnsafeMutableBufferPointer { d in
            guard let out = d.baseAddress else { return }
            context.withUnsafeBufferPointer { c in
                _ = crypto_generichash(
                    out, d.count, c.baseAddress, UInt64(c.count),
                    bytes, Self.size)
            }
        }
        return KeyFingerprint(rawValue: digest.reduce(0) { $0 << 8 | UInt64($1) })
    }

    public var description: String { "SecretKey(\(fingerprint))" }
}

public enum KeyringError: Error, Sendable, Hashable {
    case invalidBase64
    case invalidKeyLength(Int)
    /// The primary key seals every packet; make another key primary first.
    case cannotRemovePrimary
    case unknownKey
    /// The keyring holds `Keyring.maxKeys` keys already; remove one first.
    case keyringFull
}
