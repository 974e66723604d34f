import GossipWire
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a datagram write failed. Raw values are metric labels: never rename.
enum UDPSendFailure: String, Sendable, CaseIterable, CustomStringConvertible {
    case hostUnreachable = "host_unreachable"
    case networkUnreachable = "network_unreachable"
    /// EPERM or EACCES: a firewall rule, or a broadcast destination.
    case notPermitted = "not_permitted"
    /// EAFNOSUPPORT, EINVAL, EADDRNOTAVAIL...: the socket cannot send to that address at all.
    case addressUnusable = "address_unusable"
    case messageTooLarge = "message_too_large"
    case noBuffers = "no_buffers"
    case connectionRefused = "connection_refused"
    /// Written while the socket was closing after another datagram's error (or before the
    /// rebound socket was up): lost with it, not caused by its own destination.
    case socketClosed = "socket_closed"
    case other

    init(_ error: any Error) {
        switch error {
        case let e as IOError: self.init(errno: e.errnoCode)
        case ChannelError.writeHostUnreachable: self = .hostUnreachable
        case ChannelError.writeMessageTooLarge: self = .messageTooLarge
        case ChannelError.ioOnClosedChannel, ChannelError.alreadyClosed, ChannelError.outputClosed: self = .socketClosed
        default: self = .other
        }
    }

    init(errno code: CInt) {
        switch code {
        case EHOSTUNREACH, EHOSTDOWN: self = .hostUnreachable
        case ENETUNREACH, ENETDOWN: self = .networkUnreachable
        case EPERM, EACCES: self = .notPermitted
        case EAFNOSUPPORT, EINVAL, EADDRNOTAVAIL, EDESTADDRREQ, EISCONN, ENOTCONN: self = .addressUnusable
        case EMSGSIZE: self = .messageTooLarge
        case ENOBUFS, ENOMEM, EAGAIN: self = .noBuffers
        case ECONNREFUSED: self = .connectionRefused
        default: self = .other
        }
    }

    var description: String {
        switch self {
        case .hostUnreachable: "host unreachable"
        case .networkUnreachable: "network unreachable (is a link down?)"
        case .notPermitted: "not permitted (a firewall rule, or a broadcast address)"
        case .addressUnusable: "this socket cannot send to that address"
        case .messageTooLarge: "datagram too large for the path"
        case .noBuffers: "no buffer space"
        case .connectionRefused: "connection refused"
        case .socketClosed: "the socket was closing"
        case .other: "send failed"
        }
    }
}

extension WireError.Reason {
    /// For an operator: why a packet or frame from another node was refused, when the reason
    /// says something about the sender's configuration (key, label); nil for plain garbage.
    var configurationMismatch: String? {
        switch self {
        case .unauthenticated: "frame sealed with a key this node does not hold (or for another cluster label)"
        case .labelMismatch: "cluster label differs"
        case .notSealed: "plaintext frame but this node requires encryption"
        case .noKeyring: "sealed frame but this node has no key"
        case .unsupportedVersion: "another protocol version"
        default: nil
        }
    }
}
