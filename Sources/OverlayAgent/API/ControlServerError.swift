/// Why `ControlServer` could not start listening.
public enum ControlServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Neither a socket path nor a TCP address was given.
    case noListener
    /// `tcpAddress` is not `host:port` with a numeric IP (or `localhost`) and a port in 0...65535.
    case badAddress(String)
    /// `tcpAddress` is not a loopback address; the API has no authentication of its own.
    case notLoopback(String)
    /// The socket path is longer than a `sockaddr_un` holds (107 bytes).
    case pathTooLong(String)
    /// Something other than a socket is at the socket path; it is left alone.
    case notASocket(String)
    /// A process answers on the socket path (another agent is running).
    case socketInUse(String)
    /// `socketGroup` names no group on this host.
    case unknownGroup(String)
    /// A file system call failed: what was tried, on which path, and `strerror`.
    case system(operation: String, path: String, reason: String)

    public var description: String {
        switch self {
        case .noListener: "control API: neither a socket path nor a TCP address to listen on"
        case .badAddress(let text): "control API: '\(text)' is not HOST:PORT with a numeric loopback IP and a port in 0...65535"
        case .notLoopback(let text): "control API: '\(text)' is not a loopback address; the API has no authentication, so it only listens on 127.0.0.0/8 or ::1"
        case .pathTooLong(let path): "control API: socket path '\(path)' is longer than 107 bytes"
        case .notASocket(let path): "control API: '\(path)' exists and is not a socket; not removing it"
        case .socketInUse(let path): "control API: another process answers on '\(path)' (is an agent already running?)"
        case .unknownGroup(let name): "control API: no group named '\(name)'"
        case .system(let operation, let path, let reason): "control API: \(operation) '\(path)': \(reason)"
        }
    }
}
