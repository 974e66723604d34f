public import Logging
import Addresses
public import ServiceLifecycle
import Foundation
import Gossip
import GossipCore
import GossipWire
import Netlink
import Overlay

/// The daemon on every host (`grapevine agent`): a gossip member that publishes this host's
/// VTEP and local endpoints as replicated rows, turns every host's rows into the rows each
/// VXLAN device must hold (`DesiredState`), and keeps the kernel equal to them.
///
/// Kernel rows follow the replica through full reconciles (dump, diff, apply:
/// `DeviceReconciler`) at start, on every batch of replica changes, on drift the kernel
/// announces, after a netlink error or lost notification, when a device is recreated, and on
/// a timer. Only rows the agent wrote are ever deleted; at start, for `startupGrace` seconds
/// after the first join, none are, so a restart never withdraws a row whose owner's copy has
/// not arrived yet.
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
    let store: EndpointStore
    let started = ContinuousClock.now
    let startedWall = Date()

    // The replica of every host's overlay rows, and what it asks of this host's kernel.
    var replica = Replica()
    var unavailableOwners: Set<String> = []
    var desired: DesiredState
    var refusedRows = 0
    /// The replica changed since `desired` was computed.
    var replicaChanged = true

    // This host's endpoints (the registry) and the Lamport clock of claims.
    var local: [EndpointKey: StoredEndpoint] = [:]
    var claimClock: UInt64 = 0

    // Reconciling.
    var pending: [VNI: ReconcileReason] = [:]
    var deviceIndexes: [Int32: VNI] = [:]
    var lastApplied: [VNI: NetworkRows] = [:]
    /// Until then, own kernel rows are kept even when not desired; nil until the first join.
    var keepOwnRowsUntil: ContinuousClock.Instant?
    var joined = false
    let wake: AsyncStream<Void>.Continuation
    let wakes: AsyncStream<Void>
    var reconciles: UInt64 = 0
    var rowsWritten: UInt64 = 0
    var driftRepairs: UInt64 = 0
    var netlinkErrors: UInt64 = 0

    // The Docker plugin (Agent+Docker.swift, Agent+IPAM.swift, Agent+DockerSync.swift).
    let dockerStore: DockerStore
    let dockerEngine: DockerEngine
    var dockerState = DockerState()
    /// Networks this agent is deleting in its dockerd because the cluster deleted them: their
    /// DeleteNetwork is not a user's, and is not announced again.
    var agentDeleting: Set<VNI> = []
    /// Block claims being asked about, and blocks of departed hosts not claimable until then.
    var pendingClaims: [BlockKey: Claim] = [:]
    var quarantine: [BlockKey: ContinuousClock.Instant] = [:]
    var lastDockerCollect: ContinuousClock.Instant?
    /// Networks whose engine call failed or was refused, and when to try again.
    var dockerBackoff: [VNI: ContinuousClock.Instant] = [:]
    let dockerWake: AsyncStream<Void>.Continuation
    let dockerWakes: AsyncStream<Void>

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
        let mtu = configuration.deviceMTU(vtep: vtep)
        var devices: [VNI: NetworkDevice] = [:]
        var byName: [String: NetworkConfiguration] = [:]
        for n in configuration.networks {
            devices[n.vni] = NetworkDevice(network: n, vtep: vtep, port: UInt16(configuration.vxlanPort), mtu: mtu)
            byName[n.name] = n
        }
        self.devices = devices
        self.networksByName = byName
        self.desired = DesiredState(for: Overlay.Host(name: configuration.name, vtep: vtep, networks: Set(devices.keys)), from: Replica())
        self.store = EndpointStore(directory: configuration.dataDir)
        self.dockerStore = DockerStore(directory: configuration.dataDir)
        self.dockerEngine = DockerEngine(socket: configuration.dockerSocket)
        (dockerWakes, dockerWake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))

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
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigurationError("data_dir", "cannot read \(path): \(error.localizedDescription)")
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
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigurationError("key_file", "cannot read \(path): \(error.localizedDescription)")
        }
        do { return try SecretKey(base64: text.trimmingCharacters(in: .whitespacesAndNewlines)) } catch {
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
        let contents: EndpointStore.Contents
        do { contents = try store.load() } catch { throw ConfigurationError("data_dir", error.description) }
        claimClock = contents.clock
        for e in contents.endpoints { local[EndpointKey(network: e.vni, mac: e.mac)] = e }
        if configuration.docker {
            do { dockerState = try dockerStore.load() } catch { throw ConfigurationError("data_dir", error.description) }
            // Docker networks' devices come back before the endpoints of them are published.
            for stored in dockerState.definitions.values where !stored.deleted && dockerState.networks.values.contains(stored.vni) {
                guard let vni = VNI(stored.vni), devices[vni] == nil else { continue }
                let name = stored.name.isEmpty ? "vni-\(stored.vni)" : stored.name
                let network = NetworkConfiguration(name: name, vni: vni)
                devices[vni] = NetworkDevice(network: network, vtep: vtep, port: UInt16(configuration.vxlanPort), mtu: configuration.deviceMTU(vtep: vtep))
                networksByName[name] = network
            }
        }

        for device in devices.values.sorted(by: { $0.network.vni < $1.network.vni }) {
            do {
                let outcome = try await kernel.ensure(device)
                logger.info("network device ready", metadata: [
                    "network.name": "\(device.network.name)", "network.vni": "\(device.network.vni)",
                    "network.device": "\(device.network.device)", "network.bridge": "\(device.network.bridge)",
                    "network.outcome": "\(outcome == .adopted ? "adopted" : "created")",
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
        let neighbors = try NeighborMonitor()
        let start = try await node.start()
        logger.info("agent started", metadata: [
            "agent.name": "\(configuration.name)", "agent.address": "\(start.address)", "agent.vtep": "\(vtep)",
            "agent.encrypted": "\(configuration.keyFile != nil)", "agent.endpoints": "\(local.count)",
            "agent.rejoining": "\(start.rejoining)",
        ])
        if configuration.insecure {
            logger.warning("running WITHOUT encryption (--insecure): anyone who can reach the gossip port can join, forge members and rows, and read them")
        }
        try await publishHostRow()
        for e in local.values.sorted(by: { ($0.vni, $0.mac) < ($1.vni, $1.mac) }) { try await publish(e) }

        // The agent lasts as long as its node and its API server: when either ends (a stop,
        // a leave, a server that cannot bind), everything else is cancelled.
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { try await self.node.run(); return true }
            if let server { group.addTask { try await server.run(); return true } }
            group.addTask { await self.follow(stateUpdates); return false }
            group.addTask { await self.follow(membership); return false }
            group.addTask { await self.follow(userEvents); return false }
            group.addTask { await self.follow(queries); return false }
            group.addTask { await self.follow(neighbors); return false }
            group.addTask { await self.reconcileLoop(); return false }
            group.addTask { await self.timerLoop(); return false }
            group.addTask { await self.joinSeeds(rejoining: start.rejoining > 0); return false }
            if configuration.docker {
                let plugin = PluginServer(
                    plugin: self,
                    socketPath: configuration.dockerPluginSocket.isEmpty ? nil : configuration.dockerPluginSocket,
                    tcpAddress: configuration.dockerPluginAddress, logger: logger, onListening: {})
                group.addTask { try await plugin.run(); return true }
                group.addTask { await self.dockerSyncLoop(); return false }
            }
            while let essential = try await group.next() {
                if essential { break }
            }
            group.cancelAll()
        }
        wake.finish()
        dockerWake.finish()
        logger.info("agent stopped", metadata: ["agent.name": "\(configuration.name)"])
    }

    /// Joins the configured seeds, retrying with backoff (1 s doubling to 30 s) until one
    /// answers. Until a join (or, with no seeds, at once) the kernel is not touched.
    func joinSeeds(rejoining: Bool) async {
        let seeds = configuration.join
        guard !seeds.isEmpty else {
            joinedCluster()
            return
        }
        var wait = Duration.seconds(1)
        while !Task.isCancelled {
            do {
                let n = try await node.join(seeds)
                logger.info("joined", metadata: ["join.answered": "\(n)"])
                joinedCluster()
                return
            } catch {
                logger.warning("join failed, retrying", metadata: ["join.error": "\(error)", "join.retry_seconds": "\(wait.components.seconds)"])
                // A restarted agent that rejoined members from its snapshot is in the cluster.
                if rejoining, node.members.contains(where: { $0.name != configuration.name && $0.status == .alive }) {
                    joinedCluster()
                }
                try? await Task.sleep(for: wait)
                wait = min(wait * 2, .seconds(30))
            }
        }
    }

    func joinedCluster() {
        guard !joined else { return }
        joined = true
        let grace = Duration.seconds(configuration.startupGrace)
        keepOwnRowsUntil = .now + grace
        schedule(all: .start)
        // The reconcile that may delete again, as soon as it may.
        Task {
            try? await Task.sleep(for: grace)
            self.schedule(all: .start)
        }
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
