import Addresses
import Dispatch
import Netlink
import Overlay

/// The agent's netlink sockets, used from one serial queue of their own: netlink calls block,
/// and a reconcile of thousands of rows must not hold a thread of Swift's concurrency pool,
/// which the gossip runtime and the API share.
final class KernelWorker: @unchecked Sendable {
    // Touched only on `queue`.
    private var links: LinkSocket?
    private var table: VXLANTable?
    /// VXLAN devices whose bridge port has had learning turned off in this run.
    private var learningOff: Set<String> = []
    private let queue = DispatchQueue(label: "grapevine.kernel")
    /// Where the sockets work: the agent's own namespace, or one a test made.
    let namespace: NetworkNamespace

    init(namespace: NetworkNamespace = .current) {
        self.namespace = namespace
    }

    /// Runs `body` on the worker's queue with its sockets (opened on first use).
    func run<T: Sendable>(_ body: @escaping @Sendable (LinkSocket, VXLANTable) throws(NetlinkError) -> T) async throws(NetlinkError) -> T {
        let result: Result<T, NetlinkError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(NetlinkError) {
                    if self.links == nil { self.links = try LinkSocket(namespace: self.namespace) }
                    if self.table == nil { self.table = try VXLANTable(namespace: self.namespace) }
                    guard let links = self.links, let table = self.table else {
                        throw NetlinkError(operation: "open sockets", code: 0, message: "not opened", source: .libnl)
                    }
                    continuation.resume(returning: .success(try body(links, table)))
                } catch {
                    // A socket that failed may be in any state: open fresh ones next time.
                    if error.meansStateLost { self.table = nil }
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// Makes a network's devices exist as wanted (`LinkSocket.ensure`), with the bridge's
    /// learning off on the VXLAN port: the agent writes every remote MAC's row, and a MAC the
    /// bridge learned there would outlive its move onto this host. What the bridge learned there
    /// before (an older agent, or learning turned back on by hand) is deleted with it.
    func ensure(_ device: NetworkDevice, restoring ports: Set<String> = []) async throws(NetlinkError) -> EnsuredDevice {
        try await run { links, table throws(NetlinkError) in
            let ensured = try links.ensure(device, restoring: ports)
            let name = device.network.device
            if ensured.repaired || !self.learningOff.contains(name) {
                try table.setBridgeLearning(port: ensured.vxlanIndex, false)
                for mac in try table.learnedBridgeMACs(port: ensured.vxlanIndex) {
                    try table.removeBridgeEntry(mac, port: ensured.vxlanIndex)
                }
                self.learningOff.insert(name)
            }
            return ensured
        }
    }

    /// Deletes what the bridge learned for `mac` on the VXLAN port of `device`: the MAC is on
    /// this host now, and such a row would send its frames into the overlay until it aged out.
    func forgetLearned(_ mac: MACAddress, on device: NetworkDevice) async throws(NetlinkError) {
        try await run { links, table throws(NetlinkError) in
            guard let vxlan = try links.link(named: device.network.device), vxlan.masterIndex != nil else { return }
            try table.removeBridgeEntry(mac, port: vxlan.ifindex)
        }
    }

    /// Dumps, diffs and applies one network's rows. Nil when the VXLAN device is missing (the
    /// caller makes it anew and reconciles again). `ownFlood` as `DeviceReconciler.reconcile`.
    func reconcile(_ device: NetworkDevice, to desired: NetworkRows, keepingOwnRows: Bool,
                   ownFlood: Set<IPAddress>?) async throws(NetlinkError) -> (ifindex: Int32, result: Reconciliation)? {
        try await run { links, table throws(NetlinkError) in
            guard let vxlan = try links.link(named: device.network.device), vxlan.kind == "vxlan" else { return nil }
            return (vxlan.ifindex,
                    try DeviceReconciler.reconcile(device: vxlan.ifindex, to: desired, keepingOwnRows: keepingOwnRows,
                                                   ownFlood: ownFlood, using: table))
        }
    }

    /// One network's rows as the kernel holds them, and the device's ifindex. Nil when the
    /// device is missing.
    func observe(_ device: NetworkDevice) async throws(NetlinkError) -> (ifindex: Int32, rows: ObservedRows)? {
        try await run { links, table throws(NetlinkError) in
            guard let vxlan = try links.link(named: device.network.device), vxlan.kind == "vxlan" else { return nil }
            let rows = ObservedRows(fdb: try table.fdbRows(device: vxlan.ifindex),
                                    neighbors: try table.neighborRows(device: vxlan.ifindex))
            return (vxlan.ifindex, rows)
        }
    }

    /// Makes a container's veth pair, the host end up on `bridge`. A pair left by an earlier
    /// try of the same endpoint is made anew.
    func createPort(_ e: DockerState.Endpoint, bridge: String, mtu: UInt32, mac: MACAddress) async throws(NetlinkError) {
        try await run { links, _ throws(NetlinkError) in
            if try links.link(named: e.hostVeth) != nil { try links.delete(e.hostVeth) }
            try links.createVeth(named: e.hostVeth, peer: e.containerVeth, mtu: mtu, peerMAC: mac)
            do throws(NetlinkError) {
                try links.attach(e.hostVeth, toBridge: bridge)
                try links.setUp(e.hostVeth)
            } catch {
                // The half-made pair goes; if even that fails, the caller learns of both.
                do { try links.delete(e.hostVeth) } catch let cleanup {
                    throw NetlinkError(operation: error.operation, code: error.code,
                                       message: "\(error.message); deleting \(e.hostVeth) failed too: \(cleanup)", source: error.source)
                }
                throw error
            }
        }
    }

    /// Deletes a container's veth pair (gone already: nothing to do).
    func deletePort(_ e: DockerState.Endpoint) async throws(NetlinkError) {
        try await run { links, _ throws(NetlinkError) in
            if try links.link(named: e.hostVeth) != nil { try links.delete(e.hostVeth) }
        }
    }

    /// Sends an address announcement (`AddressAnnouncement.send`: UDP datagrams, which do not
    /// wait for the queue's netlink work) from the caller's thread, in the agent's namespace.
    func announce(_ frame: [UInt8], vni: UInt32, to vteps: [IPAddress], port: UInt16) async -> [(IPAddress, String)] {
        AddressAnnouncement.send(frame, vni: vni, to: vteps, port: port)
    }

    /// Deletes a network's VXLAN device and bridge (a network this host no longer takes part in).
    func remove(_ device: NetworkDevice) async throws(NetlinkError) {
        try await run { links, _ throws(NetlinkError) in
            for name in [device.network.device, device.network.bridge] where try links.link(named: name) != nil {
                try links.delete(name)
            }
        }
    }
}
