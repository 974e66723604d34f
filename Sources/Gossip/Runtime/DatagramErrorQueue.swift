import GossipCore
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A second UDP socket, outside SwiftNIO, that sends an empty datagram beside every ping and
/// reads the ICMP errors those draw. With `IP_RECVERR` (and `IPV6_RECVERR`) the kernel queues
/// every ICMP error for a datagram the socket sent, and `recvmsg(MSG_ERRQUEUE)` on the
/// descriptor reads them. An unconnected UDP socket without the option never hears of ICMP,
/// so a crashed peer (whose host answers with port unreachable) looks like a paused one.
///
/// Not the gossip socket itself: with `IP_RECVERR` an ICMP error also sets the socket's
/// pending error, which the next `sendmsg` returns as `ECONNREFUSED`, and SwiftNIO closes a
/// datagram channel on that (and on an error event whose pending error was already taken).
/// Nothing reads this socket but the error queue, so nothing else can take its errors.
final class PortCheckSocket {
    private(set) var descriptor: CInt

    /// A non-blocking, close-on-exec UDP socket on `host`'s family and address, any port.
    init(near host: SocketAddress) throws {
        var local = host
        local.port = 0
        let family = CInt(local.protocol.rawValue)
        #if canImport(Glibc)
        let type = CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
        #else
        let type = SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC
        #endif
        let fd = socket(family, type, 0)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        var one: CInt = 1
        let size = socklen_t(MemoryLayout<CInt>.size)
        // An IPv6 socket also reaches IPv4 peers (mapped), whose errors are ICMP, not ICMPv6:
        // both options, and only the one of the socket's own family must succeed.
        let v4 = setsockopt(fd, CInt(IPPROTO_IP), IP_RECVERR, &one, size)
        let v6 = family == AF_INET6 ? setsockopt(fd, CInt(IPPROTO_IPV6), IPV6_RECVERR, &one, size) : 0
        if (family == AF_INET6 ? v6 : v4) != 0 {
            let e = errno
            closeDescriptor(fd)
            throw IOError(errnoCode: e, reason: "setsockopt(IP_RECVERR)")
        }
        let bound = local.withSockAddr { bind(fd, $0, socklen_t($1)) }
        if bound != 0 {
            let e = errno
            closeDescriptor(fd)
            throw IOError(errnoCode: e, reason: "bind")
        }
        descriptor = fd
    }

    /// Sends an empty datagram to `target`; a failure is only returned (the check is a hint).
    @discardableResult
    func send(to target: SocketAddress) -> Bool {
        guard descriptor >= 0 else { return false }
        return target.withSockAddr { sendto(descriptor, nil, 0, CInt(MSG_DONTWAIT), $0, socklen_t($1)) } == 0
    }

    func drain() -> [DatagramError] {
        descriptor >= 0 ? DatagramErrorQueue.drain(descriptor) : []
    }

    func close() {
        if descriptor >= 0 { closeDescriptor(descriptor) }
        descriptor = -1
    }

    deinit { close() }
}

private func closeDescriptor(_ fd: CInt) { _ = close(fd) }

/// One ICMP error the kernel queued for a datagram this socket sent.
struct DatagramError: Equatable {
    /// Where the refused datagram went, as the ICMP error quotes it.
    var destination: Address
    /// Who sent the ICMP error, when the kernel says.
    var offender: Address?
    /// Port unreachable (ICMP type 3 code 3, ICMPv6 type 1 code 4): nobody listens there.
    var portUnreachable: Bool

    /// Evidence against the member at `destination`: a port-unreachable sent by the
    /// destination host itself. A router's or a third party's error says nothing about the
    /// member's process (a forger on the path can still meet this; Docs/ARCHITECTURE.md).
    var isEvidence: Bool {
        guard portUnreachable, let offender else { return false }
        return offender.bytes == destination.bytes
    }
}

enum DatagramErrorQueue {
    /// Reads up to `limit` queued errors off `fd` without blocking; stops at the first
    /// `EAGAIN`. Entries that are not ICMP errors (there are none on a plain UDP socket) are skipped.
    static func drain(_ fd: CInt, limit: Int = 64) -> [DatagramError] {
        var found: [DatagramError] = []
        var name = sockaddr_storage()
        var control = [UInt8](repeating: 0, count: 512)
        var payload = [UInt8](repeating: 0, count: 64)
        for _ in 0..<limit {
            let (n, nameLength, controlLength) = payload.withUnsafeMutableBytes { p in
                control.withUnsafeMutableBytes { c in
                    withUnsafeMutablePointer(to: &name) { namePointer in
                        var iov = iovec(iov_base: p.baseAddress, iov_len: p.count)
                        return withUnsafeMutablePointer(to: &iov) { iovPointer in
                            var msg = msghdr()
                            msg.msg_name = UnsafeMutableRawPointer(namePointer)
                            msg.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
                            msg.msg_iov = iovPointer
                            msg.msg_iovlen = 1
                            msg.msg_control = c.baseAddress
                            msg.msg_controllen = c.count
                            let n = recvmsg(fd, &msg, CInt(MSG_ERRQUEUE) | CInt(MSG_DONTWAIT))
                            return (n, Int(msg.msg_namelen), Int(msg.msg_controllen))
                        }
                    }
                }
            }
            if n < 0 { break }
            guard let destination = address(of: name, length: nameLength) else { continue }
            if let e = parse(control: control[0..<min(controlLength, control.count)], destination: destination) {
                found.append(e)
            }
        }
        return found
    }

    /// The `sock_extended_err` in the control messages (`linux/errqueue.h`): errno (4 bytes),
    /// origin, type, code, pad, info (4), data (4), then the offender's sockaddr.
    static func parse(control: ArraySlice<UInt8>, destination: Address) -> DatagramError? {
        // CMSG_ALIGN of the header and of each message: the size of `size_t`.
        let align = MemoryLayout<Int>.size
        let header = (MemoryLayout<cmsghdr>.size + align - 1) / align * align
        let levelOffset = MemoryLayout<cmsghdr>.offset(of: \.cmsg_level)!
        let typeOffset = MemoryLayout<cmsghdr>.offset(of: \.cmsg_type)!
        var at = control.startIndex
        while at + header <= control.endIndex {
            let length = control[at...].withUnsafeBytes { Int($0.loadUnaligned(as: UInt.self)) }
            let level = control[(at + levelOffset)...].withUnsafeBytes { $0.loadUnaligned(as: CInt.self) }
            let type = control[(at + typeOffset)...].withUnsafeBytes { $0.loadUnaligned(as: CInt.self) }
            guard length >= header, at + length <= control.endIndex else { return nil }
            let data = control[(at + header)..<(at + length)]
            let isIP = level == CInt(IPPROTO_IP) && type == IP_RECVERR
            let isIPv6 = level == CInt(IPPROTO_IPV6) && type == IPV6_RECVERR
            if (isIP || isIPv6), data.count >= 16 {
                let b = data.startIndex
                let origin = data[b + 4]
                let icmpType = data[b + 5]
                let icmpCode = data[b + 6]
                // SO_EE_ORIGIN_ICMP = 2, SO_EE_ORIGIN_ICMP6 = 3.
                let portUnreachable =
                    (origin == 2 && icmpType == 3 && icmpCode == 3) || (origin == 3 && icmpType == 1 && icmpCode == 4)
                guard origin == 2 || origin == 3 else { return nil }
                let offender = sockaddr(in: data[(b + 16)...])
                return DatagramError(destination: destination, offender: offender, portUnreachable: portUnreachable)
            }
            at += (length + align - 1) / align * align
        }
        return nil
    }

    private static func address(of storage: sockaddr_storage, length: Int) -> Address? {
        withUnsafeBytes(of: storage) { raw in sockaddr(in: ArraySlice(raw.prefix(length))) }
    }

    /// An `Address` from raw `sockaddr_in` / `sockaddr_in6` bytes (IPv4-mapped as IPv4).
    static func sockaddr(in bytes: ArraySlice<UInt8>) -> Address? {
        guard bytes.count >= 2 else { return nil }
        let b = bytes.startIndex
        let family = bytes[b..<(b + 2)].withUnsafeBytes { $0.loadUnaligned(as: sa_family_t.self) }
        let port = UInt16(bytes[b + 2]) << 8 | UInt16(bytes[b + 3])
        switch CInt(family) {
        case AF_INET where bytes.count >= 8:
            let ip = bytes[(b + 4)..<(b + 8)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return Address(ipv4: ip, port: port)
        case AF_INET6 where bytes.count >= 24:
            let raw = Array(bytes[(b + 8)..<(b + 24)])
            guard let a = raw.withUnsafeBytes({ Address(bytes: $0, port: port) }) else { return nil }
            if let v4 = a.mappedIPv4 { return Address(ipv4: v4, port: port) }
            return a
        default:
            return nil
        }
    }
}
