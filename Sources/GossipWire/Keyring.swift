/// The keys a node seals and opens with: one primary key seals every outgoing packet and frame,
/// and every key opens (primary first). Rotation over a cluster: install the new key everywhere,
/// use it as primary everywhere, then remove the old one.
public struct Keyring: Sendable, Equatable {
    /// The most keys one keyring holds. Every key is tried on every packet that the primary
    /// does not open, so the bound caps what a long rotation costs per packet; a rotation needs
    /// two or three.
    public static let maxKeys = 16

    /// Primary first, then the decrypt-only keys in the order they were installed.
    public private(set) var keys: [SecretKey]

    public init(primary: SecretKey, others: [SecretKey] = []) {
        keys = [primary]
        for k in others where !keys.contains(k) { keys.append(k) }
    }

    public var primary: SecretKey { keys[0] }

    /// Adds a decrypt-only key; installing a key already present changes nothing. Throws
    /// `keyringFull` (changing nothing) when the keyring already holds `maxKeys` keys.
    public mutating func install(_ key: SecretKey) throws(KeyringError) {
        if keys.contains(key) { return }
        if keys.count >= Self.maxKeys { throw .keyringFull }
        keys.append(key)
    }

    /// Makes an installed key the primary; the former primary stays, decrypt-only.
    public mutating func use(_ key: SecretKey) throws(KeyringError) {
        guard let i = keys.firstIndex(of: key) else { throw .unknownKey }
        let k = keys.remove(at: i)
        keys.insert(k, at: 0)
    }

    /// Removes a decrypt-only key. Its bytes are wiped once no keyring (or caller) holds it.
    public mutating func remove(_ key: SecretKey) throws(KeyringError) {
        guard let i = keys.firstIndex(of: key) else { throw .unknownKey }
        if i == 0 { throw .cannotRemovePrimary }
        keys.remove(at: i)
    }
}
