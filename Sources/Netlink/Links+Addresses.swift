import CNetlink
import Glibc

extension LinkSocket {
    /// Puts `ip/prefix` on the device `name`; nothing when the device has it already.
    /// A prefix shorter than the family's width also gives the kernel's connected route.
    /// - Throws: `NetlinkError` when the device is missing or the kernel refuses.
    public func ensureAddress(_ ip: IPAddress, prefix: Int, on name: String) throws(NetlinkError) {
        let op = "add address \(ip)/\(prefix) to \(name)"
        guard let link = try link(named: name) else { throw NetlinkError.system(op, errno: ENODEV, detail: name) }
        guard let raw = rtnl_addr_alloc() else { throw NetlinkError.libnl(op, -NLE_NOMEM) }
        defer { rtnl_addr_put(raw) }
        let local = try AddressObject.make(ip, operation: op)
        nl_addr_set_prefixlen(local.pointer, Int32(prefix))
        rtnl_addr_set_ifindex(raw, link.ifindex)
        rtnl_addr_set_family(raw, ip.family)
        try libnlCheck(op, rtnl_addr_set_local(raw, local.pointer))
        rtnl_addr_set_prefixlen(raw, Int32(prefix))
        let status = rtnl_addr_add(handle, raw, NLM_F_CREATE | NLM_F_EXCL)
        if status == -NLE_EXIST { return }
        try libnlCheck(op, status)
    }
}
