import CNetlink
import Glibc

/// A libnl route socket that frees itself, for link (device) operations.
///
/// Links are few and their messages are complex (nested IFLA_INFO_DATA), so libnl's builders
/// are worth their cost here, unlike on the FDB and neighbour paths.
public final class LinkSocket {
    public let namespace: NetworkNamespace
    let handle: OpaquePointer

    public init(namespace: NetworkNamespace = .current) throws(NetlinkError) {
        guard let handle = nl_socket_alloc() else {
            throw NetlinkError.libnl("nl_socket_alloc", -NLE_NOMEM)
        }
        do throws(NetlinkError) {
            // The kernel binds the socket's namespace at socket(2), which nl_connect calls.
            _ = try namespace.run("nl_connect") { () throws(NetlinkError) in
                try libnlCheck("nl_connect", nl_connect(handle, NETLINK_ROUTE))
            }
        } catch {
            nl_socket_free(handle)
            throw error
        }
        self.handle = handle
        self.namespace = namespace
    }

    deinit { nl_socket_free(handle) }
}

/// A libnl link object that drops its reference when it goes away.
final class LinkObject {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { rtnl_link_put(pointer) }
}

/// A libnl address that drops its reference when it goes away.
final class AddressObject {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { nl_addr_put(pointer) }

    static func make(_ ip: IPAddress, operation: String) throws(NetlinkError) -> AddressObject {
        var bytes = ip.bytes
        guard let pointer = nl_addr_build(ip.family, &bytes, bytes.count) else {
            throw NetlinkError.libnl(operation + ": nl_addr_build", -NLE_NOMEM)
        }
        return AddressObject(pointer)
    }

    var ip: IPAddress? { Self.ip(of: pointer) }

    /// The IPv4 or IPv6 address `pointer` holds (a libnl `nl_addr`, borrowed); nil for others.
    static func ip(of pointer: OpaquePointer) -> IPAddress? {
        let length = Int(nl_addr_get_len(pointer))
        guard let raw = nl_addr_get_binary_addr(pointer) else { return nil }
        let bytes = UnsafeRawBufferPointer(start: raw, count: length)
        switch (nl_addr_get_family(pointer), length) {
        case (AF_INET, 4):
            return .v4(UInt32(bigEndian: bytes.loadUnaligned(as: UInt32.self)))
        case (AF_INET6, 16):
            return IPAddress(v6Bytes: Array(bytes)[...])
        default:
            return nil
        }
    }
}
