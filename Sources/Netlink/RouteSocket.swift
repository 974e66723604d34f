import CNetlink
import Glibc

/// A raw NETLINK_ROUTE socket that closes itself.
///
/// The FDB and neighbour paths use this instead of libnl: they build and parse the messages in
/// Swift, many per system call, which is what makes 100,000 rows cheap.
final class RouteSocket {
    let fd: Int32
    let namespace: NetworkNamespace
    /// Our netlink port id, to tell our acknowledgements from anything else.
    let portID: UInt32
    private(set) var nextSequence: UInt32 = 1

    /// - Parameters:
    ///   - groups: multicast groups (RTMGRP_* bits) to join, 0 for a request socket.
    ///   - receiveBuffer: bytes; forced past `rmem_max` when we are allowed to.
    init(namespace: NetworkNamespace, groups: UInt32 = 0, receiveBuffer: Int = 4 << 20,
         sendBuffer: Int = 4 << 20, nonBlocking: Bool = false, receiveTimeoutSeconds: Int = 0) throws(NetlinkError) {
        let op = "open netlink socket"
        let opened: (Int32, UInt32) = try namespace.run(op) { () throws(NetlinkError) -> (Int32, UInt32) in
            var type = Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
            let fd = socket(AF_NETLINK, type, NETLINK_ROUTE)
            guard fd >= 0 else { throw NetlinkError.lastSystemError(op) }
            var address = sockaddr_nl()
            address.nl_family = sa_family_t(AF_NETLINK)
            address.nl_groups = groups
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
                }
            }
            guard bound == 0 else {
                let error = NetlinkError.lastSystemError(op + ": bind")
                close(fd)
                throw error
            }
            var length = socklen_t(MemoryLayout<sockaddr_nl>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard named == 0 else {
                let error = NetlinkError.lastSystemError(op + ": getsockname")
                close(fd)
                throw error
            }
            return (fd, address.nl_pid)
        }
        self.fd = opened.0
        self.portID = opened.1
        self.namespace = namespace
        setBuffer(SO_RCVBUFFORCE, fallback: SO_RCVBUF, bytes: receiveBuffer)
        setBuffer(SO_SNDBUFFORCE, fallback: SO_SNDBUF, bytes: sendBuffer)
        // Error text from the kernel (extack), acks without a copy of the request, and strict
        // parsing of dump filters so that "only this device" is honoured rather than ignored.
        setFlag(NETLINK_EXT_ACK)
        setFlag(NETLINK_CAP_ACK)
        setFlag(NETLINK_GET_STRICT_CHK)
        if receiveTimeoutSeconds > 0 {
            // A safety net: the kernel answers every request, but a read that never returns
            // would hang the caller forever, so a silent socket becomes an error instead.
            var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
    }

    deinit { close(fd) }

    /// The configured receive buffer as the kernel reports it (twice the requested size).
    var receiveBufferSize: Int {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &value, &length)
        return Int(value)
    }

    /// Reserves `count` consecutive sequence numbers and returns the first.
    func reserveSequences(_ count: Int) -> UInt32 {
        let first = nextSequence
        nextSequence &+= UInt32(truncatingIfNeeded: count)
        if nextSequence == 0 { nextSequence = 1 }
        return first
    }

    func send(_ bytes: UnsafeRawBufferPointer, operation: @autoclosure () -> String) throws(NetlinkError) {
        var kernel = sockaddr_nl()
        kernel.nl_family = sa_family_t(AF_NETLINK)
        while true {
            let sent = withUnsafePointer(to: &kernel) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
                }
            }
            if sent == bytes.count { return }
            if sent < 0 && errno == EINTR { continue }
            if sent < 0 { throw NetlinkError.lastSystemError(operation() + ": send") }
            throw NetlinkError.system(operation() + ": send", errno: EMSGSIZE, detail: "short send")
        }
    }

    enum Received {
        case bytes(Int)
        /// The socket overflowed and the kernel dropped messages meant for us.
        case overflow
        /// Nothing to read: a non-blocking socket, or the receive timeout passed.
        case empty
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer, operation: @autoclosure () -> String) throws(NetlinkError) -> Received {
        while true {
            let count = recv(fd, buffer.baseAddress, buffer.count, 0)
            if count >= 0 { return .bytes(count) }
            switch errno {
            case EINTR: continue
            case ENOBUFS: return .overflow
            case EAGAIN: return .empty
            default: throw NetlinkError.lastSystemError(operation() + ": receive")
            }
        }
    }

    private func setBuffer(_ forced: Int32, fallback: Int32, bytes: Int) {
        var value = Int32(clamping: bytes)
        let size = socklen_t(MemoryLayout<Int32>.size)
        if setsockopt(fd, SOL_SOCKET, forced, &value, size) != 0 {
            _ = setsockopt(fd, SOL_SOCKET, fallback, &value, size)
        }
    }

    private func setFlag(_ option: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(SOL_NETLINK), option, &one, socklen_t(MemoryLayout<Int32>.size))
    }
}
