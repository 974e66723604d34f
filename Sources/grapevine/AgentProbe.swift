#if canImport(Glibc)
import Glibc
#endif

/// One connect() to the agent before a request: async-http-client retries a failed connect
/// until the request's deadline, so an agent that is not running would cost the whole
/// timeout instead of an immediate exit 2 with the reason.
enum AgentProbe {
    /// Nil when something accepts a connection, else why not (`strerror`).
    static func failure(connecting target: APIClient.Target) -> String? {
        switch target {
        case .unix(let path): unixFailure(path)
        case .tcp(let address): tcpFailure(address)
        }
    }

    private static func unixFailure(_ path: String) -> String? {
        var address = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { return "the socket path is longer than \(capacity - 1) bytes" }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return status == 0 ? nil : String(cString: strerror(errno))
    }

    private static func tcpFailure(_ address: String) -> String? {
        let host: String
        let port: String
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            host = String(address[address.index(after: address.startIndex)..<close])
            port = String(address[close...].dropFirst(2))
        } else if let colon = address.lastIndex(of: ":") {
            host = String(address[..<colon])
            port = String(address[address.index(after: colon)...])
        } else {
            return "'\(address)' is not HOST:PORT"
        }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, port, &hints, &found)
        guard status == 0, let first = found else { return String(cString: gai_strerror(status)) }
        defer { freeaddrinfo(first) }
        var reason = "no address"
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let entry = next {
            let fd = socket(entry.pointee.ai_family, entry.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd >= 0 {
                defer { close(fd) }
                if connect(fd, entry.pointee.ai_addr, entry.pointee.ai_addrlen) == 0 { return nil }
            }
            reason = String(cString: strerror(errno))
            next = entry.pointee.ai_next
        }
        return reason
    }
}
