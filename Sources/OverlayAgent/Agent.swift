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
/// VXLAN device must hold, and keeps the kernel equal to them.
///
/// The composition root: it builds the owners, each the only writer of its state and each
/// handling its commands one at a time, and runs each as a child task of `run`:
/// `OverlayController` (replica, desired state, devices, reconcile, drift, underlay),
/// `EndpointRegistry` (this host's endpoints), `DockerDriver` (Docker's networks and
/// endpoints, the sync with dockerd), `AllocatorOwner` (addresses), with `PersistenceQueue` and
/// `KernelWorker` for files and netlink. The control API (`AgentControl`, Agent+Control.swift)
/// and the plugin (`PluginServer`, to the driver) are thin adapters that call the owners.
/// Its own stored properties are constants: nothing here is written after `init`.
public actor Agent {
    public let configuration: AgentConfiguration
    let logger: Logger
    let metrics: AgentMetrics
    let hub: MonitorHub
    let handlers: EventHandlers
    let node: GossipNode
    let vtep: IPAddress
    let clock = AgentClock()
    let kernel = KernelWorker()
    /// Every file write of the agent runs on its thread.
    let persistence = PersistenceQueue()
    /// This host's endpoints, their file and rows, and the Lamport clock of claims.
    let registry: EndpointRegistry
    /// The replica, desired state and kernel of this host.
    let overlay: OverlayController
    /// The Docker plugin's driver (Docker/), when the agent serves Docker.
    let docker: DockerDriver?
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
        let names = Self.makeNameServer(configuration, logger: logger, metrics: metrics)
        self.names = names

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
        let node = try GossipNode(configuration: gossip)
        self.node = node
        let ipam: AllocatorOwner?
        if configuration.docker {
            do {
                ipam = try AllocatorOwner(
                    host: configuration.name, disk: AllocatorStore(directory: configuration.dataDir, persistence: persistence),
                    rows: GossipRows(node: node), reclaimAfter: UInt64(configuration.ipamQuarantine) * 1_000, logger: logger,
                    metrics: metrics, aliveNodes: { [node] in Set(node.members.filter { $0.status == .alive }.map(\.name)) })
            } catch {
                throw ConfigurationError("data_dir", error.description)
            }
        } else {
            ipam = nil
        }
        self.ipam = ipam
        let registry = EndpointRegistry(
            host: configuration.name, disk: EndpointStore(directory: configuration.dataDir, persistence: persistence),
            rows: GossipRows(node: node), logger: logger, metrics: metrics)
        self.registry = registry
        let kernel = self.kernel, persistence = self.persistence, clock = self.clock
        let published = configuration.docker ? DockerDriver.Published() : nil
        let overlay = OverlayController(
            configuration: configuration, vtep: vtep, node: node, rows: GossipRows(node: node), kernel: kernel,
            persistence: persistence, registry: registry,
            ipam: ipam, docker: published, names: names, clock: clock, logger: logger, metrics: metrics, hub: hub)
        self.overlay = overlay
        if let published {
            self.docker = DockerDriver(
                host: configuration.name, store: DockerStore(directory: configuration.dataDir, persistence: persistence),
                engine: DockerEngine(socket: configuration.dockerSocket), overlay: overlay,
                published: published, kernel: kernel, registry: registry, ipam: ipam,
                rows: GossipRows(node: node), nameServiceRoutes: Self.nameServiceRoutes(configuration, serving: names != nil),
                readsAliases: names != nil, logger: logger, metrics: metrics)
        } else {
            self.docker = nil
        }

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

    /// Runs the agent until `shutdown` (or the task is cancelled): sets up the devices,
    /// starts gossip, publishes this host's rows, joins, and keeps the kernel in step. Leaves
    /// the cluster only when asked to (`leave()`): a stopped agent is a restarting one, and
    /// its rows stay everywhere until failure detection says otherwise.
    public func run(serving server: (any Service)?) async throws {
        try FileManager.default.createDirectory(atPath: configuration.dataDir, withIntermediateDirectories: true)
        do { registry.restore(try EndpointStore(directory: configuration.dataDir, persistence: persistence).load()) } catch {
            throw ConfigurationError("data_dir", error.description)
        }
        var restored: [DockerDriver.RestoredNetwork] = []
        if let docker {
            do { restored = try await docker.load() } catch { throw ConfigurationError("data_dir", error.description) }
        }
        try await overlay.prepare(restoring: restored)

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
        try await overlay.publishHostRow()
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
            group.addTask { await self.overlay.follow(stateUpdates); return .other }
            group.addTask { await self.follow(membership); return .other }
            group.addTask { await self.follow(userEvents); return .other }
            group.addTask { await self.follow(queries); return .other }
            group.addTask { await self.overlay.followKernel(); return .other }
            group.addTask { await self.registry.run(); return .other }
            group.addTask { await self.handlers.run(); return .other }
            group.addTask { await self.overlay.reconcileLoop(); return .other }
            group.addTask { await self.overlay.retryLoop(); return .other }
            group.addTask { await self.overlay.timerLoop(); return .other }
            group.addTask { await self.overlay.joinSeeds(rejoining: start.rejoining > 0); return .other }
            if let names { group.addTask { await self.overlay.serveNames(names); return .other } }
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
        overlay.finish()
        docker?.finish()
        ipam?.finish()
        logger.info("agent stopped", metadata: ["agent.name": "\(configuration.name)"])
    }

    /// What ended in `run`'s task group: the node or the plugin server (the agent ends), the
    /// control API server, a helper loop, or the grace given to answers in flight.
    enum RunTask: Sendable { case essential, server, other, deadline }

    /// How long the control API may take, once the node has stopped, to send answers in flight.
    static let answerGrace: Duration = .seconds(5)
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
