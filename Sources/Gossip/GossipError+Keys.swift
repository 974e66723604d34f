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
            self = .invalidConfiguration(setting: "key", reason: "\(error)")
        }
    }
}
