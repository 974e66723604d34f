public import Logging
import Addresses
public import ServiceLifecycle
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gossip
import Netlink
import Overlay

/// The daemon on every host (`grapevine agent`): a gossip member that publishes this host's
/// VTEP and local endpoints as replicated rows, turns every host's rows into the rows each
/// VXLAN device must hold (`DesiredState`), and keeps the kernel equal to them.
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
public actor Agent {
    public let configuration: AgentConfiguration
    let logger: Logger
    let metrics: AgentMetrics
    let hub: MonitorHub
    let handlers: EventHandlers
    let node: GossipNode
    let vtep: IPAddress
    var devices: [VNI: NetworkDevice]
    var networksByName: [String: NetworkConfiguration]
    let kernel = KernelWorker()
    /// Every file write of the agent runs on its thread.
    let persistence = PersistenceQueue()
    let started = ContinuousClock.now
    let startedWall = Date()

    // The replica of every host's overlay rows, and what it asks of this host's kernel.
    var replica = Replica()
    var unavailableOwners: Set<String> = []
    var desired: DesiredState
    var refusedRows = 0
    /// The replica changed since `desired` was computed.
    var replicaChanged = true

    /// This host's endpoints, their file and rows, and the Lamport clock of claims: the
    /// registry's own task writes them; the agent reads its published snapshot.
    let registry: EndpointRegistry

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
    /// The flood destinations the agent wrote, per network (`FloodRecord`); nil for a network
    /// without a record, whose rows' flags then decide.
    var floodOwned: [VNI: Set<IPAddress>] = [:]
    var floodRecordLoaded = false
    /// Per network: the backoff of its failed reconciles, and whether a retry is waiting.
    var retryBackoff: [VNI: Backoff] = [:]
    var retryWaiting: Set<VNI> = []
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
    /// The underlay under the devices (Agent+Underlay.swift).
    var underlay: Underlay

    /// The MTU each Docker network asks for (`-o com.docker.network.driver.mtu`), by VNI.
    var networkMTU: [VNI: UInt32] = [:]

    /// The Docker plugin's driver (Docker/), when the agent serves Docker: made by `run`.
    var docker: DockerDriver?
    /// The address allocators of Docker networks (IPAM/), when the agent serves Docker.
    let ipam: AllocatorOwner?
    /// The overlay's DNS (Names/), when `dns_address` is set.
    let names: NameServer?

    /// - Throws: `ConfigurationError` for a key file that cannot be read or a handler spec
    ///   that does not parse; `GossipError` for a gossip configuration the runtime refuses.
    public init(configuration: AgentConfiguration, logger: Logger, metrics: AgentMetrics, hub: MonitorHub) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        self.hub = hub
        let vtep = try configuration.resolvedVTEP()
        self.vtep = vtep
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
        self.names = Self.makeNameServer(configuration, logger: logger, metrics: metrics)

        guard let bind = Address(parsing: configuration.bind, defaultPort: 7946) else {
            throw ConfigurationError("bind", "'\(configuration.bind)' is not an address")
        }
        var gossip = GossipConfiguration(name: configuration.name, bindAddress: bind, logger: logger)
        if let advertise = configuration.advertise {
            gossip.advertiseAddress = Address(parsing: advertise, defaultPort: bind.port)
        }
        if let keyFile = configuration.keyFile {
            let keyringPath = configuration.dataDir + "/keyring"
            gossip.keyring = try Self.readKeyring(keyringPath) ?? Keyring(primary: try Self.readKey(keyFile))
            // The node rewrites it after each rotation, and reads it back on the next start.
            gossip.keyringPath = keyringPath
        }
        guard let label = ClusterLabel(configuration.label) else { throw ConfigurationError("label", "too long") }
        gossip.label = label
        var tags = Tags()
        for (k, v) in configuration.tags.sorted(by: { $0.key < $1.key }) { tags[k] = v }
        gossip.tags = tags
        gossip.snapshotPath = configuration.dataDir + "/snapshot"
        gossip.metricsFactory = metrics.factory
        self.node = try GossipNode(configuration: gossip)
        if configuration.docker {
            do {
                self.ipam = try AllocatorOwner(
                    host: configuration.name, disk: AllocatorStore(directory: configuration.dataDir, persistence: persistence),
                    rows: GossipRows(node: node), reclaimAfter: UInt64(configuration.ipamQuarantine) * 1_000, logger: logger,
                    metrics: metrics, aliveNodes: { [node] in Set(node.members.filter { $0.status == .alive }.map(\.name)) })
            } catch {
                throw ConfigurationError("data_dir", error.description)
            }
        } else {
            self.ipam = nil
        }
        self.registry = EndpointRegistry(
            host: configuration.name, disk: EndpointStore(directory: configuration.dataDir, persistence: persistence),
            rows: GossipRows(node: node), logger: logger, metrics: metrics)

        var specs: [HandlerSpec] = []
        for text in configuration.handlers {
            do { specs.append(try HandlerSpec(parsing: text)) } catch {
                throw ConfigurationError("handler", "\(error)")
            }
        }
        self.handlers = EventHandlers(
            specs: specs, selfName: configuration.name, selfTags: configuration.tags,
            concurrency: configuration.handlerConcurrency, timeout: .seconds(configuration.handlerTimeout),
            metrics: metrics, logger: logger)
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The keyring kept in the data directory after a rotation (one base64 key per line,
    /// primary first), or nil when there is none: it wins over `key_file`, which holds only
    /// the first key the cluster had.
    static func readKeyring(_ path: String) throws(ConfigurationError) -> Keyring? {
        let text: String
        do throws(StoreError) {
            guard let t = try AtomicFile.readText(path) else { return nil }
            text = t
        } catch {
            throw ConfigurationError("data_dir", error.description)
        }
        var keys: [SecretKey] = []
        for line in text.split(whereSeparator: \.isNewline) where !line.isEmpty {
            do { keys.append(try SecretKey(base64: line)) } catch {
                throw ConfigurationError("data_dir", "\(path) holds a line that is not a base64 key of \(SecretKey.size) bytes")
            }
        }
        guard let primary = keys.first, keys.count <= Keyring.maxKeys else {
            throw ConfigurationError("data_dir", "\(path) must hold 1 to \(Keyring.maxKeys) keys")
        }
        return Keyring(primary: primary, others: Array(keys.dropFirst()))
    }

    static func readKey(_ path: String) throws(ConfigurationError) -> SecretKey {
        let text: String
        do throws(StoreError) {
            guard let t = try AtomicFile.readText(path) else { throw StoreError("cannot read \(path): No such file or directory") }
            text = t
        } catch {
            throw ConfigurationError("key_file", error.description)
        }
        do { return try SecretKey(base64: text.trimmed) } catch {
            throw ConfigurationError("key_file", "\(path) does not hold a base64 key of \(SecretKey.size) bytes (make one with `grapevine keygen`)")
        }
    }

    /// The local host as the overlay model sees it.
    var localHost: Overlay.Host { Overlay.Host(name: configuration.name, vtep: vtep, networks: Set(devices.keys)) }

    /// Runs the agent until `shutdown` (or the task is cancelled): sets up the devices,
    /// starts gossip, publishes this host's rows, joins, and keeps the kernel in step. Leaves
    /// the cluster only when asked to (`leave()`): a stopped agent is a restarting one, and
    /// its rows stay everywhere until failure detection says otherwise.
    public func run(serving server: (any Service)?) async throws {
        try FileManager.default.createDirectory(atPath: configuration.dataDir, withIntermediateDirectories: true)
        await readUnderlay()
        do { registry.restore(try EndpointStore(directory: configuration.dataDir, persistence: persistence).load()) } catch {
            throw ConfigurationError("data_dir", error.description)
        }
        if configuration.docker {
            let docker = DockerDriver(
                host: configuration.name, dataDir: configuration.dataDir, dockerSocket: configuration.dockerSocket, overlay: self,
                kernel: kernel, persistence: persistence, registry: registry, ipam: ipam, rows: GossipRows(node: node),
                nameServiceRoutes: nameServiceRoutes, readsAliases: names != nil, logger: logger, metrics: metrics)
            self.docker = docker
            let restored: [(name: String, vni: VNI, mtu: UInt32?)]
            do { restored = try await docker.load() } catch { throw ConfigurationError("data_dir", error.description) }
            // Docker networks' devices come back before the endpoints of them are published.
            for network in restored { restoreNetwork(name: network.name, vni: network.vni, mtu: network.mtu) }
        }

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

        let stateUpdates = await node.stateChanges()
        let membership = await node.events()
        let userEvents = await node.userEvents()
        let queries = await node.incomingQueries()
        let start = try await node.start()
        logger.info("agent started", metadata: [
            "agent.name": "\(configuration.name)", "agent.address": "\(start.address)", "agent.vtep": "\(vtep)",
            "agent.encrypted": "\(configuration.keyFile != nil)", "agent.endpoints": "\(registry.endpoints.count)",
            "agent.rejoining": "\(start.rejoining)",
        ])
        if configuration.insecure {
            logger.warning("running WITHOUT encryption (--insecure): anyone who can reach the gossip port can join, forge members and rows, and read them")
        }
        try await publishHostRow()
        try await registry.publishAll()

        // The agent lasts as long as its node and its API server: when either ends (a stop,
        // a leave, a server that cannot bind), everything else is cancelled. The server runs in
        // a group of its own so that it can be shut down gracefully first: the answer to the
        // `leave` that ended the node still goes out, instead of a closed connection.
        let serverGroup = server.map { server in
            ServiceGroup(configuration: ServiceGroupConfiguration(
                services: [.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup)], logger: logger))
        }
        try await withThrowingTaskGroup(of: RunTask.self) { group in
            group.addTask { try await self.node.run(); return .essential }
            if let serverGroup { group.addTask { try await serverGroup.run(); return .server } }
            group.addTask { await self.follow(stateUpdates); return .other }
            group.addTask { await self.follow(membership); return .other }
            group.addTask { await self.follow(userEvents); return .other }
            group.addTask { await self.follow(queries); return .other }
            group.addTask { await self.followKernel(); return .other }
            group.addTask { await self.registry.run(); return .other }
            group.addTask { await self.reconcileLoop(); return .other }
            group.addTask { await self.timerLoop(); return .other }
            group.addTask { await self.joinSeeds(rejoining: start.rejoining > 0); return .other }
            if let names { group.addTask { await self.serveNames(names); return .other } }
            if let docker {
                let plugin = PluginServer(
                    plugin: docker,
                    socketPath: configuration.dockerPluginSocket.isEmpty ? nil : configuration.dockerPluginSocket,
                    tcpAddress: configuration.dockerPluginAddress, logger: logger, onListening: {})
                group.addTask { try await plugin.run(); return .essential }
                group.addTask { await docker.run(); return .other }
                if let ipam { group.addTask { await ipam.run(); return .other } }
            }
            var serverRunning = serverGroup != nil
            while let ended = try await group.next() {
                if ended == .server { serverRunning = false }
                if ended != .other { break }
            }
            if serverRunning, let serverGroup {
                await serverGroup.triggerGracefulShutdown()
                // Bounded: a client that never reads its answer does not keep the agent alive.
                group.addTask { try? await Task.sleep(for: Self.answerGrace); return .deadline }
                while let ended = try await group.next(), ended != .server, ended != .deadline {}
            }
            group.cancelAll()
        }
        wake.finish()
        docker?.finish()
        ipam?.finish()
        logger.info("agent stopped", metadata: ["agent.name": "\(configuration.name)"])
    }

    /// What ended in `run`'s task group: the node or the plugin server (the agent ends), the
    /// control API server, a helper loop, or the grace given to answers in flight.
    enum RunTask: Sendable { case essential, server, other, deadline }

    /// How long the control API may take, once the node has stopped, to send answers in flight.
    static let answerGrace: Duration = .seconds(5)

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

/// A local endpoint's identity: one per MAC per network.
struct EndpointKey: Hashable, Sendable {
    var network: UInt32
    var mac: String
}

extension Agent {
    /// Stops without leaving: the cluster keeps this host's rows until it is declared failed,
    /// so an agent restarted within the failure-detection time interrupts nothing.
    public func stop() async {
        await node.stop()
    }
}
