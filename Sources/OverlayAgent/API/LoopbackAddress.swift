#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP listen address for the control API: `127.x.x.x:PORT`, `[::1]:PORT` or `localhost:PORT`.
/// Anything else is refused, because the API trusts whoever can connect.
struct LoopbackAddress: Sendable, Hashable {
    var host: String
    var port: Int

    init(parsing text: String) throws(ControlServerError) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw .badAddress(text)
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw .badAddress(text) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = Int(portText), (0...65_535).contains(port) else { throw .badAddress(text) }
        self.port = port
        if host == "localhost" {
            self.host = "127.0.0.1"
            return
        }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, String(host), &v4) == 1 {
            // s_addr is in network order: the first octet is the lowest byte in memory.
            guard withUnsafeBytes(of: &v4, { $0[0] }) == 127 else { throw .notLoopback(text) }
        } else if inet_pton(AF_INET6, String(host), &v6) == 1 {
            let loopback: [UInt8] = Array(repeating: 0, count: 15) + [1]
            guard withUnsafeBytes(of: &v6, { Array($0) }) == loopback else { throw .notLoopback(text) }
        } else {
            throw .badAddress(text)
        }
        self.host = String(host)
    }
}
