import GrapevineTestSupport
import Addresses
import Foundation
import Gossip
import Netlink
import Overlay
@testable import OverlayAgent
import Synchronization

/// The edges of the agent's owners where `OwnerFaultTests` injects faults.
enum Edge: String, CaseIterable, Sendable {
    case disk, rows, netlink, dockerd
}

/// Faults at every edge of the owners: each call at an edge fails with that edge's
/// probability, drawn from one seeded generator; and calls armed by name (`failNext`) fail
/// for certain, for the tests of one case. Counts what it injected, per edge.
final class OwnerFaults: Sendable {
    private struct State {
        var random: SplitMix
        var rates: [Edge: Double] = [:]
        var armed: [String: Int] = [:]
        var armedLate: Set<String> = []
        var injected: [Edge: Int] = [:]
        var calls: [Edge: Int] = [:]
        var holds: [String: Hold] = [:]

        mutating func take(_ what: String, edge: Edge) -> Bool {
            guard let n = armed[what], n > 0 else { return false }
            armed[what] = n - 1
            injected[edge, default: 0] += 1
            return true
        }
    }

    /// A call held at its edge until the test lets it go (`holdNext`).
    private struct Hold {
        var held: CheckedContinuation<Void, Never>?
        var watchers: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(seed: UInt64) { state = Mutex(State(random: SplitMix(seed: seed))) }

    func set(_ rates: [Edge: Double]) { state.withLock { $0.rates = rates } }
    func off() { set([:]) }

    /// The next `count` calls named `what` (`FaultyKernel`'s operations, "write host" or
    /// "delete endpoint" for rows, the file's name, the engine call's name) fail; `late`: a
    /// netlink operation of several steps fails after doing its work.
    func failNext(_ what: String, count: Int = 1, late: Bool = false) {
        state.withLock {
            $0.armed[what, default: 0] += count
            if late { $0.armedLate.insert(what) }
        }
    }

    /// The next call named `what` waits at its edge, before it does anything, until
    /// `release(what)`; `reached(what)` returns once it waits. For the cases that need one
    /// operation halfway while another runs.
    func holdNext(_ what: String) { state.withLock { $0.holds[what] = Hold() } }

    /// Returns once the call held by `holdNext(what)` waits at its edge.
    func reached(_ what: String) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                guard var hold = state.holds[what], hold.held == nil else { return true }
                hold.watchers.append(c)
                state.holds[what] = hold
                return false
            }
            if now { c.resume() }
        }
    }

    /// Lets the held call named `what` go on.
    func release(_ what: String) {
        let held = state.withLock { $0.holds.removeValue(forKey: what)?.held }
        held?.resume()
    }

    /// At an edge: waits while the test holds this call.
    func gate(_ what: String) async {
        guard state.withLock({ $0.holds[what].map { $0.held == nil } ?? false }) else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let watchers = state.withLock { state -> [CheckedContinuation<Void, Never>]? in
                guard var hold = state.holds[what], hold.held == nil else { return nil }
                hold.held = c
                defer { hold.watchers = []; state.holds[what] = hold }
                return hold.watchers
            }
            guard let watchers else { return c.resume() }
            for w in watchers { w.resume() }
        }
    }

    /// Armed faults not yet used.
    var pending: [String: Int] { state.withLock { $0.armed.filter { $0.value > 0 } } }

    var injected: [Edge: Int] { state.withLock { $0.injected } }
    var calls: [Edge: Int] { state.withLock { $0.calls } }

    /// Whether a fault armed as `what` is left; uses it (counted at `edge`).
    func takeArmed(_ what: String, edge: Edge) -> Bool {
        state.withLock { $0.take(what, edge: edge) }
    }

    /// Whether this call, `what` at `edge`, fails.
    func fails(_ edge: Edge, _ what: String) -> Bool {
        state.withLock { state in
            state.calls[edge, default: 0] += 1
            if state.take(what, edge: edge) { return true }
            guard let rate = state.rates[edge], rate > 0 else { return false }
            let fails = Double.random(in: 0..<1, using: &state.random) < rate
            if fails { state.injected[edge, default: 0] += 1 }
            return fails
        }
    }

    /// For a failing netlink call that has several steps: true when it fails after doing its
    /// work (a later request of it refused), false when it fails before touching anything.
    func failsLate(_ what: String) -> Bool {
        state.withLock { state in
            if state.armedLate.remove(what) != nil { return true }
            return state.rates.isEmpty ? false : Bool.random(using: &state.random)
        }
    }
}

func injectedNetlinkError(_ operation: String) -> NetlinkError {
    NetlinkError(operation: operation, code: 5, message: "injected fault (EIO)")
}

/// The real kernel worker, in the test's namespace, with calls that fail on demand. `ensure`
/// and `reconcile` are several requests with no undo of their own, so a fault there comes
/// before the work or after it (the devices or rows are then made, and the caller told it
/// failed); the others fail before they touch the kernel (`createPort` undoes its own half-made
/// pair, the rest are one request each).
struct FaultyKernel: KernelOperations {
    let real: KernelWorker
    let faults: OwnerFaults

    private func check(_ operation: String) throws(NetlinkError) {
        if faults.fails(.netlink, operation) { throw injectedNetlinkError(operation) }
    }

    func run<T: Sendable>(_ body: @escaping @Sendable (LinkSocket, VXLANTable) throws(NetlinkError) -> T) async throws(NetlinkError) -> T {
        try check("run")
        return try await real.run(body)
    }

    func ensure(_ device: NetworkDevice, restoring ports: Set<String>) async throws(NetlinkError) -> EnsuredDevice {
        guard faults.fails(.netlink, "ensure") else { return try await real.ensure(device, restoring: ports) }
        if faults.failsLate("ensure") { _ = try await real.ensure(device, restoring: ports) }
        throw injectedNetlinkError("ensure")
    }

    func forgetLearned(_ mac: MACAddress, on device: NetworkDevice) async throws(NetlinkError) {
        try check("forget learned")
        try await real.forgetLearned(mac, on: device)
    }

    func reconcile(_ device: NetworkDevice, to desired: NetworkRows, keepingOwnRows: Bool,
                   ownFlood: Set<IPAddress>?) async throws(NetlinkError) -> (ifindex: Int32, result: Reconciliation)? {
        guard faults.fails(.netlink, "reconcile") else {
            return try await real.reconcile(device, to: desired, keepingOwnRows: keepingOwnRows, ownFlood: ownFlood)
        }
        if faults.failsLate("reconcile") { _ = try await real.reconcile(device, to: desired, keepingOwnRows: keepingOwnRows, ownFlood: ownFlood) }
        throw injectedNetlinkError("reconcile")
    }

    func observe(_ device: NetworkDevice) async throws(NetlinkError) -> (ifindex: Int32, rows: ObservedRows)? {
        try check("observe")
        return try await real.observe(device)
    }

    func createPort(_ e: DockerState.Endpoint, bridge: String, mtu: UInt32, mac: MACAddress) async throws(NetlinkError) {
        try check("create port")
        try await real.createPort(e, bridge: bridge, mtu: mtu, mac: mac)
    }

    func deletePort(_ e: DockerState.Endpoint) async throws(NetlinkError) {
        await faults.gate("delete port")
        try check("delete port")
        try await real.deletePort(e)
    }

    func remove(_ device: NetworkDevice) async throws(NetlinkError) {
        try check("remove")
        try await real.remove(device)
    }

    /// Never sent: the VTEPs are documentation addresses outside the test's namespace, and
    /// the test sends nothing off this host.
    func announce(_ frame: [UInt8], vni: UInt32, to vteps: [IPAddress], port: UInt16) async -> [(IPAddress, String)] { [] }
}

/// The node's rows (`GossipRows`), with publishes and withdrawals that fail before they reach
/// the node.
struct FaultyNodeRows: RowPublisher {
    let real: GossipRows
    let faults: OwnerFaults

    @discardableResult
    func write(_ row: OverlayRow) async throws -> UInt64 {
        await Task.yield()
        if faults.fails(.rows, "write \(Self.kind(row))") { throw InjectedFault() }
        return try await real.write(row)
    }

    func delete(_ row: OverlayRow) async throws {
        await Task.yield()
        if faults.fails(.rows, "delete \(Self.kind(row))") { throw InjectedFault() }
        try await real.delete(row)
    }

    static func kind(_ row: OverlayRow) -> String {
        switch row {
        case .host: "host"
        case .endpoint: "endpoint"
        case .network: "network"
        case .block: "block"
        case .allocator: "allocator"
        }
    }
}

/// The real files, through the persistence thread, with writes that fail before they touch
/// the file (a full disk).
struct FaultyFiles: Sendable {
    let endpoints: EndpointStore
    let docker: DockerStore
    let ipam: AllocatorStore
    let faults: OwnerFaults

    init(directory: String, faults: OwnerFaults) {
        let persistence = PersistenceQueue()
        endpoints = EndpointStore(directory: directory, persistence: persistence)
        docker = DockerStore(directory: directory, persistence: persistence)
        ipam = AllocatorStore(directory: directory, persistence: persistence)
        self.faults = faults
    }

    private func check(_ file: String) throws(StoreError) {
        if faults.fails(.disk, file) { throw StoreError("cannot write \(file): injected fault (disk full)") }
    }

    func saveEndpoints(_ records: [RegistryRecord]?, whole: @escaping @Sendable () -> EndpointStore.Contents) async throws(StoreError) {
        await Task.yield()
        try check("endpoints.json")
        try await endpoints.save(records, whole: whole)
    }

    func saveDocker(_ state: DockerState) async throws(StoreError) {
        await Task.yield()
        // "docker.json holding ID": the first write that records endpoint ID.
        if state.endpoints.keys.contains(where: { faults.takeArmed("docker.json holding \($0)", edge: .disk) }) {
            throw StoreError("cannot write docker.json: injected fault (disk full)")
        }
        try check("docker.json")
        try await docker.save(state)
    }

    func saveIPAM(_ file: AllocatorFile) async throws(StoreError) {
        await Task.yield()
        try check("ipam.json")
        try await ipam.save(file)
    }
}

/// The Docker driver's view of the allocator file: `AllocatorDisk` through `FaultyFiles`.
struct FaultyAllocatorFile: AllocatorDisk {
    let files: FaultyFiles
    func load() throws(StoreError) -> AllocatorFile? { try files.ipam.load() }
    func save(_ file: AllocatorFile) async throws(StoreError) { try await files.saveIPAM(file) }
}

/// The Docker driver's file: `DockerDisk` through `FaultyFiles`.
struct FaultyDockerFile: DockerDisk {
    let files: FaultyFiles
    func load() throws(StoreError) -> DockerState { try files.docker.load() }
    func save(_ state: DockerState) async throws(StoreError) { try await files.saveDocker(state) }
}

/// The registry's file: `RegistryDisk` through `FaultyFiles`.
struct FaultyRegistryFile: RegistryDisk {
    let files: FaultyFiles
    func save(_ records: [RegistryRecord]?, whole: @escaping @Sendable () -> EndpointStore.Contents) async throws(StoreError) {
        try await files.saveEndpoints(records, whole: whole)
    }
}

/// dockerd as the driver's engine calls see it: the networks the test's "dockerd" stored
/// (after their CreateNetwork succeeded) with the containers joined to them. Calls fail on
/// demand; a failing call did nothing.
final class FakeDockerd: DockerEngineCalls {
    struct Stored: Sendable {
        var name: String
        var containers: [String: DockerEngine.Container] = [:]
    }

    private let networks = Mutex<[String: Stored]>([:])
    let faults: OwnerFaults

    init(faults: OwnerFaults) { self.faults = faults }

    func store(id: String, name: String) { networks.withLock { $0[id] = Stored(name: name) } }
    func forget(id: String) { networks.withLock { _ = $0.removeValue(forKey: id) } }
    func attach(endpoint: String, to network: String) {
        networks.withLock { $0[network]?.containers["c-\(endpoint)"] = DockerEngine.Container(Name: "/c-\(endpoint.prefix(8))", EndpointID: endpoint) }
    }
    func detach(endpoint: String, from network: String) {
        networks.withLock { _ = $0[network]?.containers.removeValue(forKey: "c-\(endpoint)") }
    }

    private func check(_ call: String) throws(DockerEngine.Failure) {
        if faults.fails(.dockerd, call) { throw DockerEngine.Failure(message: "Docker engine: injected fault (connection reset)") }
    }

    private func view(_ id: String, _ s: Stored) -> DockerEngine.Network {
        DockerEngine.Network(Name: s.name, Id: id, Driver: DockerDriver.driverName, Internal: false, Options: nil, IPAM: nil,
                             Containers: s.containers)
    }

    func networks(driver: String) async throws(DockerEngine.Failure) -> [DockerEngine.Network] {
        try check("networks")
        return networks.withLock { $0.map { view($0.key, $0.value) } }
    }

    func network(_ id: String) async throws(DockerEngine.Failure) -> DockerEngine.Network? {
        try check("network")
        return networks.withLock { n in n[id].map { view(id, $0) } }
    }

    /// Every network of the test is made through the plugin here: one the cluster asks for
    /// is one of this dockerd's already, by name.
    func create(_ network: DockerEngine.CreateNetwork) async throws(DockerEngine.Failure) -> Bool {
        try check("create")
        return false
    }

    func delete(_ id: String) async throws(DockerEngine.Failure) -> Bool {
        try check("delete")
        forget(id: id)
        return true
    }

    func aliases(container: String, network: String) async throws(DockerEngine.Failure) -> [String] {
        try check("aliases")
        return []
    }
}
