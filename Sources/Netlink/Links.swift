import CNetlink
import Glibc

/// The settings of a VXLAN device that the overlay depends on.
public struct VXLANSettings: Hashable, Sendable {
    public var vni: UInt32
    /// The underlay address VXLAN packets are sent from.
    public var local: IPAddress?
    /// UDP destination port (4789 is IANA's; the kernel's own default is the older 8472).
    public var port: UInt16
    /// Kernel learning of source MACs; off, since the control plane writes every row.
    public var learning: Bool
    /// Answer ARP/NDP from the device's neighbour rows instead of flooding the request.
    public var proxy: Bool
    public var mtu: UInt32?

    public init(vni: UInt32, local: IPAddress? = nil, port: UInt16 = 4789, learning: Bool = false,
                proxy: Bool = true, mtu: UInt32? = nil) {
        self.vni = vni
        self.local = local
        self.port = port
        self.learning = learning
        self.proxy = proxy
        self.mtu = mtu
    }
}

/// A network device as the kernel reports it.
public struct LinkInfo: Hashable, Sendable {
    public var name: String
    public var ifindex: Int32
    public var mtu: UInt32
    public var isUp: Bool
    /// The bridge (or other master) the device is attached to.
    public var masterIndex: Int32?
    /// `vxlan`, `bridge`, `veth`, ... when the device has a kind.
    public var kind: String?
    /// Read back from the kernel for VXLAN devices, so callers can check what they got.
    public var vxlan: VXLANSettings?
    /// The link-layer address, for devices that have a 6-byte one.
    public var mac: MACAddress?

    public init(name: String, ifindex: Int32, mtu: UInt32, isUp: Bool, masterIndex: Int32? = nil, kind: String? = nil,
                vxlan: VXLANSettings? = nil, mac: MACAddress? = nil) {
        self.name = name
        self.ifindex = ifindex
        self.mtu = mtu
        self.isUp = isUp
        self.masterIndex = masterIndex
        self.kind = kind
        self.vxlan = vxlan
        self.mac = mac
    }
}

extension LinkSocket {
    /// Creates a VXLAN device (fails if the name is taken) and returns it as the kernel sees it.
    @discardableResult
    public func createVXLAN(named name: String, _ settings: VXLANSettings) throws(NetlinkError) -> LinkInfo {
        let op = "create vxlan \(name)"
        guard let raw = rtnl_link_vxlan_alloc() else { throw NetlinkError.libnl(op, -NLE_NOMEM) }
        let link = LinkObject(raw)
        rtnl_link_set_name(link.pointer, name)
        try libnlCheck(op + ": vni", rtnl_link_vxlan_set_id(link.pointer, settings.vni))
        try libnlCheck(op + ": port", rtnl_link_vxlan_set_port(link.pointer, UInt32(settings.port)))
        try libnlCheck(op + ": learning", rtnl_link_vxlan_set_learning(link.pointer, settings.learning ? 1 : 0))
        try libnlCheck(op + ": proxy", rtnl_link_vxlan_set_proxy(link.pointer, settings.proxy ? 1 : 0))
        if let local = settings.local {
            let address = try AddressObject.make(local, operation: op)
            try libnlCheck(op + ": local", rtnl_link_vxlan_set_local(link.pointer, address.pointer))
        }
        if let mtu = settings.mtu { rtnl_link_set_mtu(link.pointer, mtu) }
        try libnlCheck(op, rtnl_link_add(handle, link.pointer, NLM_F_CREATE | NLM_F_EXCL))
        guard let created = try self.link(named: name) else {
            throw NetlinkError.system(op, errno: ENODEV, detail: "device missing after create")
        }
        return created
    }

    /// Creates a Linux bridge; with `mac`, its address is fixed to it.
    ///
    /// A bridge whose address was never set takes the lowest address of its ports, so adding
    /// or removing a port can change it; containers that cached it (for the gateway, or for the
    /// name server's address) then send to a MAC nobody answers until their neighbour entry
    /// expires, up to some 35 s (`agent-bench names` found it). A set address stays.
    @discardableResult
    public func createBridge(named name: String, mac: MACAddress? = nil) throws(NetlinkError) -> LinkInfo {
        let op = "create bridge \(name)"
        guard let raw = rtnl_link_bridge_alloc() else { throw NetlinkError.libnl(op, -NLE_NOMEM) }
        let link = LinkObject(raw)
        rtnl_link_set_name(link.pointer, name)
        if let mac { try setAddress(mac, of: link, operation: op) }
        try libnlCheck(op, rtnl_link_add(handle, link.pointer, NLM_F_CREATE | NLM_F_EXCL))
        guard let created = try self.link(named: name) else {
            throw NetlinkError.system(op, errno: ENODEV, detail: "device missing after create")
        }
        return created
    }

    /// Creates a veth pair: `name` stays here, `peer` is the end handed to a container (Docker
    /// moves it into the container's namespace and renames it). Both ends get `mtu`, because
    /// nothing else sets it (libnetwork does not, and the default of 1500 is too large for an
    /// overlay: weave#1703); `peerMAC`, when given, is the address the container sees.
    @discardableResult
    public func createVeth(named name: String, peer: String, mtu: UInt32, peerMAC: MACAddress? = nil) throws(NetlinkError) -> LinkInfo {
        let op = "create veth \(name)/\(peer)"
        guard let raw = rtnl_link_veth_alloc() else { throw NetlinkError.libnl(op, -NLE_NOMEM) }
        let link = LinkObject(raw)
        rtnl_link_set_name(link.pointer, name)
        rtnl_link_set_mtu(link.pointer, mtu)
        guard let peerRaw = rtnl_link_veth_get_peer(link.pointer) else { throw NetlinkError.libnl(op, -NLE_NOMEM) }
        let peerLink = LinkObject(peerRaw)
        rtnl_link_set_name(peerLink.pointer, peer)
        rtnl_link_set_mtu(peerLink.pointer, mtu)
        if let peerMAC { try setAddress(peerMAC, of: peerLink, operation: op) }
        try libnlCheck(op, rtnl_link_add(handle, link.pointer, NLM_F_CREATE | NLM_F_EXCL))
        guard let created = try self.link(named: name) else {
            throw NetlinkError.system(op, errno: ENODEV, detail: "device missing after create")
        }
        return created
    }

    /// The device called `name`, or nil when there is none.
    public func link(named name: String) throws(NetlinkError) -> LinkInfo? {
        guard let object = try fetch(name, operation: "find link \(name)") else { return nil }
        return info(of: object)
    }

    /// Every device of the namespace.
    public func links() throws(NetlinkError) -> [LinkInfo] {
        var cache: OpaquePointer?
        try libnlCheck("list links", rtnl_link_alloc_cache(handle, AF_UNSPEC, &cache))
        guard let cache else { return [] }
        defer { nl_cache_free(cache) }
        var result: [LinkInfo] = []
        var object = nl_cache_get_first(cache)
        while let current = object {
            // The cache owns its objects; the wrapper releases the reference taken here.
            nl_object_get(current)
            result.append(info(of: LinkObject(current)))
            object = nl_cache_get_next(current)
        }
        return result
    }

    /// Attaches `name` to the bridge `bridge`. libnl reads the device back to confirm that the
    /// kernel really changed its master, which turns a silent refusal into an error.
    public func attach(_ name: String, toBridge bridge: String) throws(NetlinkError) {
        let op = "attach \(name) to \(bridge)"
        guard let port = try link(named: name) else { throw NetlinkError.system(op, errno: ENODEV, detail: name) }
        guard let master = try link(named: bridge) else { throw NetlinkError.system(op, errno: ENODEV, detail: bridge) }
        try libnlCheck(op, rtnl_link_enslave_ifindex(handle, master.ifindex, port.ifindex))
    }

    /// Sets the device administratively up or down, and checks that it took.
    public func setUp(_ name: String, _ up: Bool = true) throws(NetlinkError) {
        let op = "set \(name) \(up ? "up" : "down")"
        guard let current = try fetch(name, operation: op) else { throw NetlinkError.system(op, errno: ENODEV) }
        guard let raw = rtnl_link_alloc() else { throw NetlinkError.libnl(op, -NLE_NOMEM) }
        let change = LinkObject(raw)
        if up {
            rtnl_link_set_flags(change.pointer, UInt32(IFF_UP))
        } else {
            rtnl_link_unset_flags(change.pointer, UInt32(IFF_UP))
        }
        try libnlCheck(op, rtnl_link_change(handle, current.pointer, change.pointer, 0))
        guard let after = try link(named: name), after.isUp == up else {
            throw NetlinkError.system(op, errno: EIO, detail: "the kernel accepted the change but the flag did not move")
        }
    }

    /// Sets the device's link-layer address (which, on a bridge, also stops it following its ports').
    public func setMAC(_ name: String, _ mac: MACAddress) throws(NetlinkError) {
        let op = "set \(name) address \(mac)"
        guard let current = try fetch(name, operation: op) else { throw NetlinkError.system(op, errno: ENODEV) }
        guard let raw = rtnl_link_alloc() else { throw NetlinkError.libnl(op, -NLE_NOMEM) }
        let change = LinkObject(raw)
        try setAddress(mac, of: change, operation: op)
        try libnlCheck(op, rtnl_link_change(handle, current.pointer, change.pointer, 0))
    }

    private func setAddress(_ mac: MACAddress, of link: LinkObject, operation: String) throws(NetlinkError) {
        var bytes = mac.bytes
        guard let address = nl_addr_build(AF_LLC, &bytes, bytes.count) else { throw NetlinkError.libnl(operation, -NLE_NOMEM) }
        rtnl_link_set_addr(link.pointer, address)
        nl_addr_put(address)
    }

    /// Deletes the device (a bridge's ports are released, a VXLAN device's rows go with it).
    public func delete(_ name: String) throws(NetlinkError) {
        let op = "delete link \(name)"
        guard let raw = rtnl_link_alloc() else { throw NetlinkError.libnl(op, -NLE_NOMEM) }
        let link = LinkObject(raw)
        rtnl_link_set_name(link.pointer, name)
        try libnlCheck(op, rtnl_link_delete(handle, link.pointer))
    }

    private func fetch(_ name: String, operation: String) throws(NetlinkError) -> LinkObject? {
        var result: OpaquePointer?
        let rc = rtnl_link_get_kernel(handle, 0, name, &result)
        if rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV { return nil }
        try libnlCheck(operation, rc)
        guard let result else { return nil }
        return LinkObject(result)
    }

    func info(of object: LinkObject) -> LinkInfo {
        let link = object.pointer
        let name = rtnl_link_get_name(link).map { String(cString: $0) } ?? ""
        let kind = rtnl_link_get_type(link).map { String(cString: $0) }
        let master = rtnl_link_get_master(link)
        var info = LinkInfo(
            name: name, ifindex: rtnl_link_get_ifindex(link), mtu: rtnl_link_get_mtu(link),
            isUp: rtnl_link_get_flags(link) & UInt32(IFF_UP) != 0,
            masterIndex: master > 0 ? master : nil, kind: kind, vxlan: nil)
        if let address = rtnl_link_get_addr(link), nl_addr_get_len(address) == 6, let raw = nl_addr_get_binary_addr(address) {
            let b = raw.assumingMemoryBound(to: UInt8.self)
            info.mac = MACAddress(b[0], b[1], b[2], b[3], b[4], b[5])
        }
        if rtnl_link_is_vxlan(link) != 0 {
            var vni: UInt32 = 0
            var port: UInt32 = 0
            _ = rtnl_link_vxlan_get_id(link, &vni)
            _ = rtnl_link_vxlan_get_port(link, &port)
            var localPointer: OpaquePointer?
            var local: IPAddress?
            if rtnl_link_vxlan_get_local(link, &localPointer) == 0, let localPointer {
                local = AddressObject(localPointer).ip
            }
            info.vxlan = VXLANSettings(
                vni: vni, local: local, port: UInt16(truncatingIfNeeded: port),
                learning: rtnl_link_vxlan_get_learning(link) > 0,
                proxy: rtnl_link_vxlan_get_proxy(link) > 0, mtu: info.mtu)
        }
        return info
    }
}
