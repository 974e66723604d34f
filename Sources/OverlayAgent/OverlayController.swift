import Addresses
import Logging
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gossip
import Netlink
import Overlay

/// The overlay's owner on this host: the replica of every host's rows, the desired state it asks
/// of this host's kernel, the networks this host takes part in and their devices, the
/// reconcile and its bookkeeping (pending networks, retries, what was applied, the devices'
/// indexes and ports, the record of flood rows), drift following (kernel notifications), the
/// underlay, and the join (nothing is written to the kernel before it, and own stale rows are
/// kept until the replica is complete). The only writer of all of these.
///
/// Kernel rows follow the replica through full reconciles (dump, diff, apply:
/// `DeviceReconciler`) at start, on every batch of replica changes, on drift the kernel
/// announces, after a netlink error or lost notification, when a device is recreated, and on
/// a timer. Only rows the agent wrote are ever deleted; at start, none are until the replica
/// is complete (the join's state exchange has been applied; at most `startupGrace` seconds
/// after the first join), so a restart never withdraws a row whose owner's copy has not
/// arrived yet. Device changes the kernel announces (a VXLAN device set down or detached, a
/// bridge deleted) are repaired at once, and the containers' ports put back on a bridge made
/// anew.
///
/// Fed by the agent's run: the replica follower (`follow`), the kernel follower, the reconcile
/// loop, the timer, the join and the retries are its child tasks. Others reach it by calls:
/// the Docker driver asks for a network's devices (`takePart`, `stopTakingPart`) and reads
/// definitions; the control API registers endpoints (`registerEndpoint`) and reads views. Its
/// own writes to others go through their commands (the endpoint registry), their atomic
/// clocks, or their wake-ups (`DockerDriver.Published`).
actor OverlayController {
    let configuration: AgentConfiguration
    let logger: Logger
    let metrics: AgentMetrics
    let hub: MonitorHub
    let node: GossipNode
    let rows: any RowPublisher
    let vtep: IPAddress
    let kernel: any KernelOperations
    /// Every file write of the agent runs on its thread.
    let persistence: PersistenceQueue
    let clock: AgentClock
    /// This host's endpoints, their file and rows, and the Lamport clock of claims: the
    /// registry's own task writes them; the overlay reads its published snapshot.
    let registry: EndpointRegistry
    /// The address allocators' owner, fed the definitions and allocator rows of the replica.
    let ipam: AllocatorOwner?
    /// What the Docker driver publishes (its own definitions) and is told (times seen, the
    /// replica changed).
    let docker: DockerDriver.Published?
    /// The overlay's DNS (Names/), when `dns_address` is set.
    let names: NameServer?

    var devices: [VNI: NetworkDevice]
    /// Orders the network changes the driver asks for (`takePart`, `renameNetwork`, `stopTakingPart`).
    let networkChanges = OneAtATime()
    var networksByName: [String: NetworkConfiguration]
    /// The MTU each Docker network asks for (`-o com.docker.network.driver.mtu`), by VNI.
    var networkMTU: [VNI: UInt32] = [:]

    // The replica of every host's overlay rows, and what it asks of this host's kernel.
    var replica = Replica()
    var unavailableOwners: Set<String> = []
    var desired: DesiredState
    var refusedRows = 0
    /// The replica changed since `desired` was computed.
    var replicaChanged = true

    // Reconciling.
    var pending: [VNI: ReconcileReason] = [:]
    var deviceIndexes: [Int32: VNI] = [:]
    var lastApplied: [VNI: NetworkRows] = [:]
    /// Bridge ifindex → network, and the devices each bridge had as ports (containers' veths),
    /// so that a bridge deleted by hand is made anew with its ports.
    var bridgeIndexes: [Int32: VNI] = [:]
    var bridgePorts: [VNI: Set<String>] = [:]
    /// Networks whose devices must be checked (`ensure`) before their next reconcile.
    var ensureWanted: Set<VNI> = []
    /// Devices of networks this host no longer takes part in (or failed to join) whose removal
    /// failed: removed by the next reconcile of their VNI.
    var removalOwed: [VNI: NetworkDevice] = [:]
    /// The host row's last publish failed: the next reconcile pass publishes it.
    var hostRowOwed = false
    /// The flood destinations the agent wrote, per network (`FloodRecord`); nil for a network
    /// without a record, whose rows' flags then decide.
    var floodOwned: [VNI: Set<IPAddress>] = [:]
    var floodRecordLoaded = false
    /// Per network: the backoff of its failed reconciles, and whether a retry is waiting.
    var retryBackoff: [VNI: Backoff] = [:]
    var retryWaiting: Set<VNI> = []
    /// Retries to schedule after their wait (`retryLoop`, a child of the agent's run).
    let retries: AsyncStream<(VNI, Duration)>.Continuation
    let retryWaits: AsyncStream<(VNI, Duration)>
    /// Until then, own kernel rows are kept even when not desired; nil until the first join.
    var keepOwnRowsUntil: ContinuousClock.Instant?
    /// The version of this host's own row written just after the join: once the replica
    /// follower has seen it, everything the join brought is in the replica.
    var replicaBarrier: UInt64?
    /// The newest version of this host's own rows the replica follower has applied.
    var ownVersionSeen: UInt64 = 0
    var joined = false
    let wake: AsyncStream<Void>.Continuation
    let wakes: AsyncStream<Void>
    var reconciles: UInt64 = 0
    var rowsWritten: UInt64 = 0
    var driftRepairs: UInt64 = 0
    var netlinkErrors: UInt64 = 0
    /// The underlay under the devices (OverlayController+Underlay.swift).
    var underlay: Underlay

    /// - Parameters:
    ///   - rows: where this host's host row goes (`GossipRows` of `node` in the agent).
    ///   - kernel: the netlink operations (`KernelWorker` in the agent).
    init(configuration: AgentConfiguration, vtep: IPAddress, node: GossipNode, rows: any RowPublisher, kernel: any KernelOperations,
         persistence: PersistenceQueue, registry: EndpointRegistry, ipam: AllocatorOwner?, docker: DockerDriver.Published?, names: NameServer?,
         clock: AgentClock, logger: Logger, metrics: AgentMetrics, hub: MonitorHub) {
        self.configuration = configuration
        self.vtep = vtep
        self.node = node
        self.rows = rows
        self.kernel = kernel
        self.persistence = persistence
        self.registry = registry
        self.ipam = ipam
        self.docker = docker
        self.names = names
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.hub = hub
        self.underlay = Underlay(vtep: vtep, bind: Self.specificBindAddress(configuration), configuredMTU: configuration.underlayMTU)
        let mtu = underlay.deviceMTU
        var devices: [VNI: NetworkDevice] = [:]
        var byName: [String: NetworkConfiguration] = [:]
        for n in configuration.networks {
            devices[n.vni] = NetworkDevice(network: n, vtep: vtep, port: UInt16(configuration.vxlanPort), mtu: mtu)
            byName[n.name] = n
        }
        self.devices = devices
        self.networksByName = byName
        self.desired = DesiredState(for: Overlay.Host(name: configuration.name, vtep: vtep, networks: Set(devices.keys)), from: Replica())
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (retryWaits, retries) = AsyncStream.makeStream(of: (VNI, Duration).self)
    }

    /// The local host as the overlay model sees it.
    var localHost: Overlay.Host { Overlay.Host(name: configuration.name, vtep: vtep, networks: Set(devices.keys)) }

    /// At start, before gossip: reads the underlay, takes the Docker networks this host's
    /// dockerd has (`restored`), reads the flood record and makes every network's devices.
    /// - Throws: `ConfigurationError` for a flood record that cannot be read; the
    ///   `NetlinkError` of a device that cannot be made.
    func prepare(restoring restored: [DockerDriver.RestoredNetwork]) async throws {
        await readUnderlay()
        // Docker networks' devices come back before the endpoints of them are published.
        for network in restored { restoreNetwork(network) }
        do {
            let record = try FloodRecord.load(from: configuration.dataDir)
            floodRecordLoaded = FileManager.default.fileExists(atPath: FloodRecord.path(in: configuration.dataDir))
            floodOwned = record.owned
        } catch {
            throw ConfigurationError("data_dir", error.description)
        }
        for device in devices.values.sorted(by: { $0.network.vni < $1.network.vni }) {
            do {
                let ensured = try await ensureDevice(device)
                logger.info("network device ready", metadata: [
                    "network.name": "\(device.network.name)", "network.vni": "\(device.network.vni)",
                    "network.device": "\(device.network.device)", "network.bridge": "\(device.network.bridge)",
                    "network.outcome": "\(ensured.outcome == .adopted ? "adopted" : "created")",
                ])
            } catch {
                netlinkError("ensure", error)
                throw error
            }
        }
    }

    /// Ends the loops that wait for wake-ups (after the agent's run).
    nonisolated func finish() {
        wake.finish()
        retries.finish()
    }

    /// Publishes the host row: this host's VTEP and the networks it takes part in.
    /// - Returns: the row's version.
    @discardableResult
    func publishHostRow() async throws -> UInt64 {
        do {
            let version = try await rows.write(.host(vtep: vtep, networks: Set(devices.keys)))
            hostRowOwed = false
            return version
        } catch {
            hostRowOwed = true
            throw error
        }
    }

    // MARK: joining

    /// Joins the configured seeds, retrying with backoff (`Backoff`, 1 s to 30 s) until one
    /// answers. Until a join (or, with no seeds, at once) the kernel is not touched. Then keeps
    /// the agent's own stale rows until the replica is complete (`replicaComplete`), or
    /// `startupGrace` seconds at most.
    func joinSeeds(rejoining: Bool) async {
        let seeds = configuration.join
        if seeds.isEmpty {
            await joinedCluster(barrier: true)
        } else {
            var backoff = Backoff(base: .seconds(1), cap: .seconds(30))
            while !Task.isCancelled {
                do {
                    let n = try await node.join(seeds)
                    logger.info("joined", metadata: ["join.answered": "\(n)"])
                    await joinedCluster(barrier: true)
                    break
                } catch {
                    let wait = backoff.next()
                    logger.warning("join failed, retrying", metadata: ["join.error": "\(error)", "join.retry_seconds": "\(wait.seconds)"])
                    // A restarted agent that rejoined members from its snapshot is in the cluster.
                    if rejoining, node.members.contains(where: { $0.name != configuration.name && $0.status == .alive }) {
                        await joinedCluster(barrier: false)
                    }
                    do { try await Task.sleep(for: wait) } catch { return }
                }
            }
        }
        // The bound on keeping own rows, for a barrier that never comes back (its write failed).
        do { try await Task.sleep(for: .seconds(configuration.startupGrace)) } catch { return }
        replicaComplete(why: "startup grace over")
    }

    /// - Parameter barrier: the join exchanged state (a successful join, or no seeds); false
    ///   for a rejoin from the snapshot alone, whose replica fills only by gossip: then the
    ///   startup grace decides.
    func joinedCluster(barrier: Bool = true) async {
        guard !joined else { return }
        joined = true
        keepOwnRowsUntil = .now + .seconds(configuration.startupGrace)
        schedule(all: .start)
        guard barrier else { return }
        // A barrier: the join's state exchange is merged before the join returns, and the
        // replica follower sees changes in the order the node made them, so once it sees this
        // write of the host row, everything the join brought is in the replica.
        do {
            let barrier = try await publishHostRow()
            replicaBarrier = barrier
            // The follower may have applied it while the write was being answered.
            if ownVersionSeen >= barrier { replicaComplete(why: "join's state applied") }
        } catch {
            logger.warning("cannot write the host row after joining; own stale rows are kept for the startup grace",
                           metadata: ["gossip.error": "\(error)"])
        }
    }

    /// The replica holds what the cluster had when this host joined: own rows it no longer
    /// shows may be deleted now.
    func replicaComplete(why: String) {
        guard let until = keepOwnRowsUntil, ContinuousClock.now < until else { return }
        keepOwnRowsUntil = .now
        replicaBarrier = nil
        logger.info("replica complete, own stale rows may go", metadata: ["replica.reason": "\(why)"])
        schedule(all: .start)
    }
}
