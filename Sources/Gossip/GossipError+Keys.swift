public import GossipWire

extension GossipError {
    public static let noKeyring = GossipError(code: .noKeyring)
    public static let keyringFull = GossipError(code: .keyringFull)

    public static func unknownKey(_ key: KeyFingerprint) -> GossipError {
        var e = GossipError(code: .unknownKey)
        e.key = key
        return e
    }

    public static func cannotRemovePrimary(_ key: KeyFingerprint) -> GossipError {
        var e = GossipError(code: .cannotRemovePrimary)
        e.key = key
        return e
    }

    /// The keyring's verdict on an operation with the key `key`, as the one error type of the API.
    init(_ error: KeyringError, key: KeyFingerprint) {
        switch error {
        case .unknownKey: self = .unknownKey(key)
        case .cannotRemovePrimary: self = .cannotRemovePrimary(key)
        case .keyringFull: self = .keyringFull
        case .invalidBase64, .invalidKeyLength:
            // Only parsing throws these, and a `SecretKey` is parsed already.
            self = .invalidKey(error)
        }
    }

    static func invalidKey(_ error: KeyringError) -> GossipError {
        var e = GossipError(code: .invalidKey)
        switch error {
        case .invalidBase64: e.reason = "not base64 (a key is \(SecretKey.size) random bytes in base64, 44 characters)"
        case .invalidKeyLength(let n): e.reason = "\(n) bytes; a key is \(SecretKey.size)"
        default: e.reason = "\(error)"
        }
        return e
    }
}

extension SecretKey {
    /// Parses a key given as base64 (`SecretKey.random().base64` makes one; so does
    /// `head -c 32 /dev/urandom | base64`). Throws `GossipError.Code.invalidKey` with the reason.
    public convenience init(base64 text: String) throws(GossipError) {
        do throws(KeyringError) { try self.init(base64: text[...]) } catch { throw .invalidKey(error) }
    }
}
