import CNetlink
import CSodium
import Testing

/// These exist so that a machine without the system packages fails at once, with a clear
/// link or import error, instead of deep inside a later module.
@Suite struct SystemLibraryTests {
    @Test func libsodiumSealsAndOpens() {
        #expect(sodium_init() >= 0)
        var key = [UInt8](repeating: 0, count: Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES))
        var nonce = [UInt8](repeating: 0, count: Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES))
        crypto_aead_xchacha20poly1305_ietf_keygen(&key)
        randombytes_buf(&nonce, nonce.count)
        let message: [UInt8] = Array("grapevine".utf8)
        var sealed = [UInt8](repeating: 0, count: message.count + Int(crypto_aead_xchacha20poly1305_ietf_ABYTES))
        var sealedLength: UInt64 = 0
        let rc = crypto_aead_xchacha20poly1305_ietf_encrypt(
            &sealed, &sealedLength, message, UInt64(message.count), nil, 0, nil, nonce, key)
        #expect(rc == 0)
        var opened = [UInt8](repeating: 0, count: message.count)
        var openedLength: UInt64 = 0
        #expect(crypto_aead_xchacha20poly1305_ietf_decrypt(
            &opened, &openedLength, nil, sealed, sealedLength, nil, 0, nonce, key) == 0)
        #expect(opened == message)
        sealed[0] ^= 1
        #expect(crypto_aead_xchacha20poly1305_ietf_decrypt(
            &opened, &openedLength, nil, sealed, sealedLength, nil, 0, nonce, key) != 0)
    }

    @Test func libnlAllocatesASocketAndNamesErrors() throws {
        let socket = try #require(nl_socket_alloc())
        defer { nl_socket_free(socket) }
        let text = String(cString: nl_geterror(NLE_NOMEM))
        #expect(text.lowercased().contains("memory"))
        // A route link object round-trips its name through libnl-route.
        let link = try #require(rtnl_link_alloc())
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, "gv-test0")
        #expect(String(cString: rtnl_link_get_name(link)) == "gv-test0")
    }
}
