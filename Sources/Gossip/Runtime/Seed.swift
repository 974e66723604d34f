import GossipCore
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A seed as the caller gave it: an address, or a host name to resolve.
enum Seed: Hashable, Sendable, CustomStringConvertible {
    case address(Address)
    case host(String, port: UInt16)

    static let defaultPort: UInt16 = 7946

    /// `host[:port]`: an IPv4 or bracketed IPv6 address, or a DNS name of letters, digits, `-`,
    /// `_` and `.` (at most 253 bytes); the port defaults to 7946.
    init(parsing text: String) throws(GossipError) {
        if let address = Address(parsing: text, defaultPort: Self.defaultPort) {
            self = .address(address)
            return
        }
        var host = Substring(text)
        var port = Self.defaultPort
        if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            guard let p = UInt16(text[text.index(after: colon)...]), p != 0 else {
                throw .invalidSeed(text, reason: "the port must be a number in 1...65535")
            }
            port = p
        }
        let allowed = host.utf8.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
                || c == UInt8(ascii: "_")
        }
        guard !host.isEmpty, host.utf8.count <= 253, allowed else {
            throw .invalidSeed(text, reason: "not host[:port] (an IP address, or a DNS name of letters, digits, '-', '_' and '.')")
        }
        self = .host(String(host), port: port)
    }

    var isHostName: Bool {
        if case .host = self { true } else { false }
    }

    var description: String {
        switch self {
        case .address(let a): "\(a)"
        case .host(let h, let p): "\(h):\(p)"
        }
    }

    /// Every address of a host name, in the resolver's order, of the given family. Blocking
    /// (`getaddrinfo`): call it on a thread pool, never on the event loop.
    static func resolve(_ host: String, port: UInt16, family: Address.Family) throws(GossipError) -> [Address] {
        var hints = addrinfo()
        hints.ai_family = family == .v4 ? AF_INET : AF_INET6
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        #else
        hints.ai_socktype = SOCK_DGRAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw .invalidSeed("\(host):\(port)", reason: "does not resolve to an \(family == .v4 ? "IPv4" : "IPv6") address (\(String(cString: gai_strerror(status))))")
        }
        defer { freeaddrinfo(first) }
        var found: [Address] = []
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let info = next {
            next = info.pointee.ai_next
            guard let raw = info.pointee.ai_addr else { continue }
            let socketAddress: SocketAddress
            switch Int32(raw.pointee.sa_family) {
            case AF_INET:
                socketAddress = raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) }
            case AF_INET6:
                socketAddress = raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host) }
            default:
                continue
            }
            if let a = Address(socketAddress), !found.contains(a) { found.append(a) }
        }
        if found.isEmpty {
            throw .invalidSeed("\(host):\(port)", reason: "resolves to no \(family == .v4 ? "IPv4" : "IPv6") address")
        }
        return found
    }
}
