import GossipCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which destinations the UDP socket can send to, decided before anything is written.
///
/// SwiftNIO closes a datagram channel on most `sendmsg` errors (all but `EMSGSIZE` and
/// `EHOSTUNREACH`), and addresses arrive from the network: one member advertising an IPv6
/// address, port 0 or a broadcast address would otherwise close the socket for everyone. So
/// an address the socket cannot use is refused here and counted, never written.
struct DestinationPolicy: Sendable {
    /// Why a destination was refused before sending. Raw values are metric labels: never rename.
    enum Refusal: String, Sendable, CaseIterable, CustomStringConvertible {
        /// IPv6 from an IPv4 socket or the other way round.
        case wrongFamily = "wrong_family"
        case portZero = "port_zero"
        /// 0.0.0.0/8 or `::`.
        case unspecified
        /// 255.255.255.255 or the broadcast address of a local network.
        case broadcast
        case multicast
        /// 240.0.0.0/4, which no route leads to.
        case reserved
        /// A socket bound to loopback can only reach loopback.
        case notLoopback = "not_loopback"
        /// An IPv6 link-local address: it needs an interface, which an `Address` does not carry.
        case linkLocal = "link_local"
        /// A send to it closed the socket a moment ago; refused for a while, so one bad
        /// destination does not make the node rebind its socket on every probe.
        case recentlyFailed = "recently_failed"

        var description: String {
            switch self {
            case .wrongFamily: "address family this socket cannot send to"
            case .portZero: "port 0"
            case .unspecified: "unspecified address"
            case .broadcast: "broadcast address"
            case .multicast: "multicast address"
            case .reserved: "reserved address"
            case .notLoopback: "not a loopback address, and this node is bound to loopback"
            case .linkLocal: "IPv6 link-local address without an interface"
            case .recentlyFailed: "a send to it failed moments ago"
            }
        }
    }

    /// The bound address (its port is ignored).
    let bound: Address
    /// IPv4 broadcast addresses of local networks (host order), from `getifaddrs`.
    var localBroadcasts: Set<UInt32>

    init(bound: Address, localBroadcasts: Set<UInt32> = []) {
        self.bound = bound
        self.localBroadcasts = localBroadcasts
    }

    private var boundWildcard: Bool { bound.high == 0 && bound.low == 0 }

    /// Whether datagrams to `address` can be written, and why not.
    func check(_ address: Address) -> Refusal? {
        if address.port == 0 { return .portZero }
        let v4 = address.ipv4 ?? address.mappedIPv4
        switch (bound.family, v4) {
        case (.v4, nil):
            return .wrongFamily
        case (.v6, .some) where !boundWildcard:
            // A socket bound to one IPv6 address has no IPv4 source to send from.
            return .wrongFamily
        default:
            break
        }
        if let v4 {
            if v4 >> 24 == 0 { return .unspecified }
            if v4 == 0xffff_ffff || localBroadcasts.contains(v4) { return .broadcast }
            if v4 >> 28 == 0xe { return .multicast }
            if v4 >> 28 == 0xf { return .reserved }
            if let b = bound.ipv4 ?? bound.mappedIPv4, b >> 24 == 127, v4 >> 24 != 127 { return .notLoopback }
            return nil
        }
        if address.high == 0 && address.low == 0 { return .unspecified }
        if address.high >> 56 == 0xff { return .multicast }
        if address.high >> 54 == 0x3fa { return .linkLocal }  // fe80::/10
        if bound.isIPv6Loopback && !address.isIPv6Loopback { return .notLoopback }
        return nil
    }

    /// The broadcast addresses of every local IPv4 network: the last address of each prefix
    /// shorter than /31, and the network address itself (which older kernels also route as
    /// broadcast). Reading interfaces fails quietly: the rest of the policy still applies,
    /// and a send that fails anyway is caught by the transport.
    static func localIPv4Broadcasts() -> Set<UInt32> {
        var result: Set<UInt32> = []
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return result }
        defer { freeifaddrs(list) }
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let addr = entry.pointee.ifa_addr, let mask = entry.pointee.ifa_netmask,
                addr.pointee.sa_family == sa_family_t(AF_INET), mask.pointee.sa_family == sa_family_t(AF_INET) || mask.pointee.sa_family == 0
            else { continue }
            let ip = addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            let netmask = mask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            guard netmask.nonzeroBitCount < 31 else { continue }
            result.insert(ip | ~netmask)
            result.insert(ip & netmask)
        }
        return result
    }
}

extension Address {
    /// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
    var mappedIPv4: UInt32? {
        guard family == .v6, high == 0, low >> 32 == 0xffff else { return nil }
        return UInt32(truncatingIfNeeded: low)
    }

    var isIPv6Loopback: Bool { family == .v6 && high == 0 && low == 1 }

    /// The address without its port: the key for limits per source host.
    var host: Address {
        var a = self
        a.port = 0
        return a
    }
}
