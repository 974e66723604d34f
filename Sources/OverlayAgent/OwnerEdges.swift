import Addresses
import Netlink
import Overlay

// The owners' edges besides the registry's (Endpoints/RegistryEdges.swift) and the allocator's
// file (IPAM/AllocatorDisk.swift): what the overlay controller and the Docker driver ask of the
// kernel, of dockerd and of `docker.json`. The agent passes the real ones (`KernelWorker`,
// `DockerEngine`, `DockerStore`); the fault-injection tests (Tests/OverlayAgentTests/
// OwnerFaults.swift) pass wrappers that fail on demand.

/// The netlink operations of the overlay controller and the Docker driver (`KernelWorker`, on
/// its own thread). A call that throws may have done part of its work: netlink operations are
/// several requests, and one after the first can fail. So a caller that must leave nothing
/// behind undoes the whole operation (`remove`, `deletePort`), and an `ensure` or `reconcile`
/// is simply tried again.
protocol KernelOperations: Sendable {
    /// Runs `body` with the worker's sockets, on its thread.
    func run<T: Sendable>(_ body: @escaping @Sendable (LinkSocket, VXLANTable) throws(NetlinkError) -> T) async throws(NetlinkError) -> T
    /// Makes a network's devices exist as wanted (`LinkSocket.ensure`), learning off on the VXLAN port.
    func ensure(_ device: NetworkDevice, restoring ports: Set<String>) async throws(NetlinkError) -> EnsuredDevice
    /// Deletes what the bridge learned for `mac` on the VXLAN port.
    func forgetLearned(_ mac: MACAddress, on device: NetworkDevice) async throws(NetlinkError)
    /// Dumps, diffs and applies one network's rows; nil when the VXLAN device is missing.
    func reconcile(_ device: NetworkDevice, to desired: NetworkRows, keepingOwnRows: Bool,
                   ownFlood: Set<IPAddress>?) async throws(NetlinkError) -> (ifindex: Int32, result: Reconciliation)?
    /// One network's rows as the kernel holds them; nil when the device is missing.
    func observe(_ device: NetworkDevice) async throws(NetlinkError) -> (ifindex: Int32, rows: ObservedRows)?
    /// Makes a container's veth pair, the host end up on `bridge`.
    func createPort(_ e: DockerState.Endpoint, bridge: String, mtu: UInt32, mac: MACAddress) async throws(NetlinkError)
    /// Deletes a container's veth pair (nothing when it is gone).
    func deletePort(_ e: DockerState.Endpoint) async throws(NetlinkError)
    /// Deletes a network's VXLAN device and bridge (nothing of what is gone).
    func remove(_ device: NetworkDevice) async throws(NetlinkError)
    /// Sends an announcement frame for `vni` to each VTEP's VXLAN port (`AddressAnnouncement.send`).
    /// - Returns: the VTEPs it could not be sent to, with why.
    func announce(_ frame: [UInt8], vni: UInt32, to vteps: [IPAddress], port: UInt16) async -> [(IPAddress, String)]
}

/// Where the Docker driver keeps `docker.json`: `DockerStore` (written on the persistence
/// thread) in the agent. A save that throws left the previous contents in place.
protocol DockerDisk: Sendable {
    /// The state as last saved; an empty one when there is no file.
    /// - Throws: `StoreError` for a file that cannot be read or is not the driver's.
    func load() throws(StoreError) -> DockerState
    func save(_ state: DockerState) async throws(StoreError)
}

/// The calls of Docker's engine API the driver makes (`DockerEngine`), never from a plugin
/// handler. A call that throws may still have been carried out by dockerd (an answer lost to
/// a timeout): the driver decides again from what dockerd lists at the next sync pass.
protocol DockerEngineCalls: Sendable {
    /// Every network whose driver is `driver`.
    func networks(driver: String) async throws(DockerEngine.Failure) -> [DockerEngine.Network]
    /// The network with this ID or name, or nil when dockerd has none.
    func network(_ id: String) async throws(DockerEngine.Failure) -> DockerEngine.Network?
    /// True when made, false when a network of that name exists already.
    func create(_ network: DockerEngine.CreateNetwork) async throws(DockerEngine.Failure) -> Bool
    /// True when gone (or already gone), false while containers use it.
    func delete(_ id: String) async throws(DockerEngine.Failure) -> Bool
    /// A container's aliases on a network, without its name and short ID.
    func aliases(container: String, network: String) async throws(DockerEngine.Failure) -> [String]
}

extension KernelWorker: KernelOperations {}
extension DockerEngine: DockerEngineCalls {}
extension DockerStore: DockerDisk {}
