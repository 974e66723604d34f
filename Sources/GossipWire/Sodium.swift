import CSodium

/// libsodium needs one `sodium_init()` before its random generator is used; a global `let`
/// runs it exactly once, thread-safely, on first use.
let sodiumInitialized: Bool = sodium_init() >= 0

/// XChaCha20-Poly1305-IETF in place over a contiguous region, with detached tags.
enum AEAD {
    static let keySize = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
    static let nonceSize = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    static let tagSize = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)

    static func randomNonce(into nonce: UnsafeMutableRawBufferPointer) {
        _ = sodiumInitialized
        if let base = nonce.baseAddress { randombytes_buf(base, nonce.count) }
    }

    /// Encrypts `text` in place and writes the tag to `tag`.
    static func seal(
        text: UnsafeMutableRawBufferPointer, tag: UnsafeMutableRawBufferPointer,
        nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, key: SecretKey
    ) {
        guard let t = text.baseAddress?.assumingMemoryBound(to: UInt8.self),
            let mac = tag.baseAddress?.assumingMemoryBound(to: UInt8.self),
            let n = nonce.baseAddress?.assumingMemoryBound(to: UInt8.self)
        else { return }
        let a = aad.baseAddress?.assumingMemoryBound(to: UInt8.self)
        key.withUnsafeBytes { k in
            _ = crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
                t, mac, nil, t, UInt64(text.count), a, UInt64(aad.count), nil, n, k)
        }
    }

    /// Checks the tag under each key, primary first, and decrypts `text` in place with the one
    /// that opens it. With several keys the check runs without output first, because a failed
    /// in-place decrypt wipes the ciphertext the next key needs.
    static func open(
        text: UnsafeMutableRawBufferPointer, tag: UnsafeRawBufferPointer,
        nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, keyring: Keyring
    ) -> Bool {
        guard let t = text.baseAddress?.assumingMemoryBound(to: UInt8.self),
            let mac = tag.baseAddress?.assumingMemoryBound(to: UInt8.self),
            let n = nonce.baseAddress?.assumingMemoryBound(to: UInt8.self)
        else { return false }
        let a = aad.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let single = keyring.keys.count == 1
        for key in keyring.keys {
            let opened = key.withUnsafeBytes { k -> Bool in
                if !single {
                    let ok = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                        nil, nil, t, UInt64(text.count), mac, a, UInt64(aad.count), n, k)
                    if ok != 0 { return false }
                }
                return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                    t, nil, t, UInt64(text.count), mac, a, UInt64(aad.count), n, k) == 0
            }
            if opened { return true }
        }
        return false
    }
}
