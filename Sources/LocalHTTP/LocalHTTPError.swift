public import NIOCore

/// Why an exchange with a local daemon failed. Every case names the endpoint.
public enum LocalHTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing to talk to: no socket file (`ENOENT`), or nothing accepts on it
    /// (`ECONNREFUSED`: a stale socket, or a TCP port with no listener). `reason` is `strerror`.
    case notListening(LocalHTTPClient.Endpoint, reason: String)
    /// Connecting failed otherwise: a path too long, a host that does not resolve, a
    /// permission refused (`reason` says which).
    case connectFailed(LocalHTTPClient.Endpoint, reason: String)
    /// The deadline passed before the answer was complete (connecting included).
    case timedOut(LocalHTTPClient.Endpoint, after: TimeAmount)
    /// The request body, the answer's body or one line of it is over `limit` bytes.
    case tooLarge(LocalHTTPClient.Endpoint, limit: Int)
    /// The connection ended or broke before the answer did, or the answer is not HTTP/1.1.
    case cutOff(LocalHTTPClient.Endpoint, reason: String)

    public var description: String {
        switch self {
        case .notListening(let endpoint, let reason): "nothing listening on \(endpoint) (\(reason))"
        case .connectFailed(let endpoint, let reason): "cannot connect to \(endpoint): \(reason)"
        case .timedOut(let endpoint, let after): "no complete answer from \(endpoint) within \(Self.seconds(after))"
        case .tooLarge(let endpoint, let limit): "an exchange with \(endpoint) is over its limit of \(limit) bytes"
        case .cutOff(let endpoint, let reason): "the exchange with \(endpoint) was cut off: \(reason)"
        }
    }

    static func seconds(_ amount: TimeAmount) -> String {
        let milliseconds = amount.nanoseconds / 1_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
    }
}
