import CNetlink
import Glibc

/// An address the kernel has on one of the namespace's devices (`ip addr`).
public struct InterfaceAddress: Hashable, Sendable {
    public var ifindex: Int32
    public var ip: IPAddress

    public init(ifindex: Int32, ip: IPAddress) {
        self.ifindex = ifindex
        self.ip = ip
    }
}

/// An address added to or removed from a device, as an RTM_NEWADDR / RTM_DELADDR shows it.
public struct AddressEvent: Sendable, Hashable, CustomStringConvertible {
    public var ifindex: Int32
    public var ip: IPAddress
    /// The address was removed (RTM_DELADDR), by hand, by DHCP renumbering or with its device.
    public var removed: Bool

    public init(ifindex: Int32, ip: IPAddress, removed: Bool) {
        self.ifindex = ifindex
        self.ip = ip
        self.removed = removed
    }

    public var description: String { "address \(ip) \(removed ? "removed from" : "added to") \(ifindex)" }
}

extension LinkSocket {
    /// Every IPv4 and IPv6 address of the namespace's devices (the local address of a
    /// point-to-point link, not its peer's).
    public func addresses() throws(NetlinkError) -> [InterfaceAddress] {
        var cache: OpaquePointer?
        try libnlCheck("list addresses", rtnl_addr_alloc_cache(handle, &cache))
        guard let cache else { return [] }
        defer { nl_cache_free(cache) }
        var result: [InterfaceAddress] = []
        var object = nl_cache_get_first(cache)
        while let current = object {
            // Borrowed from the cache: nl_addr values read here are not ours to release.
            if let local = rtnl_addr_get_local(current), let ip = AddressObject.ip(of: local) {
                result.append(InterfaceAddress(ifindex: rtnl_addr_get_ifindex(current), ip: ip))
            }
            object = nl_cache_get_next(current)
        }
        return result
    }

    /// The device with index `ifindex`, or nil when there is none.
    public func link(index ifindex: Int32) throws(NetlinkError) -> LinkInfo? {
        var result: OpaquePointer?
        let rc = rtnl_link_get_kernel(handle, ifindex, nil, &result)
        if rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV { return nil }
        try libnlCheck("find link \(ifindex)", rc)
        guard let result else { return nil }
        return info(of: LinkObject(result))
    }

    /// The device that holds `ip` (the underlay interface of a VTEP), or nil when no device of
    /// the namespace has that address.
    public func link(holding ip: IPAddress) throws(NetlinkError) -> LinkInfo? {
        guard let found = try addresses().first(where: { $0.ip == ip }) else { return nil }
        return try link(index: found.ifindex)
    }

    /// Sets the device's MTU, and checks that it took.
    ///
    /// - Throws: `NetlinkError` when the device is missing, the kernel refuses the value (out
    ///   of the device's range: `EINVAL`), or the MTU read back differs.
    public func setMTU(_ name: String, _ mtu: UInt32) throws(NetlinkError) {
        let op = "set \(name) mtu \(mtu)"
        var current: OpaquePointer?
        let rc = rtnl_link_get_kernel(handle, 0, name, &current)
        if rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV { throw NetlinkError.system(op, errno: ENODEV) }
        try libnlCheck(op, rc)
        guard let current else { throw NetlinkError.system(op, errno: ENODEV) }
        let existing = LinkObject(current)
        guard let raw = rtnl_link_alloc() else { throw NetlinkError.libnl(op, -NLE_NOMEM) }
        let change = LinkObject(raw)
        rtnl_link_set_mtu(change.pointer, mtu)
        try libnlCheck(op, rtnl_link_change(handle, existing.pointer, change.pointer, 0))
        guard let after = try link(named: name), after.mtu == mtu else {
            throw NetlinkError.system(op, errno: EIO, detail: "the kernel accepted the change but the MTU did not move")
        }
    }
}
