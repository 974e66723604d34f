import GossipCore
import NIOCore

extension Address {
    /// The core's address for a socket address (IPv4-mapped IPv6 as IPv4); nil for Unix sockets.
    init?(_ socketAddress: SocketAddress) {
        switch socketAddress {
        case .v4(let a):
            self.init(ipv4: UInt32(bigEndian: a.address.sin_addr.s_addr), port: UInt16(bigEndian: a.address.sin_port))
        case .v6(let a):
            var addr = a.address.sin6_addr
            let port = UInt16(bigEndian: a.address.sin6_port)
            let parsed = withUnsafeBytes(of: &addr) { Address(bytes: $0, port: port) }
            guard let parsed else { return nil }
            // A dual-stack socket sees IPv4 peers as ::ffff:a.b.c.d; members know them as IPv4.
            if let v4 = parsed.mappedIPv4 {
                self.init(ipv4: v4, port: port)
            } else {
                self = parsed
            }
        case .unixDomainSocket:
            return nil
        }
    }
}

extension SocketAddress {
    init(_ address: Address) throws {
        var packed = ByteBuffer()
        packed.writeBytes(address.bytes)
        try self.init(packedIPAddress: packed, port: Int(address.port))
    }
}
