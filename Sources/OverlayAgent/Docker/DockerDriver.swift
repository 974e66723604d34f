import Addresses
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Overlay
import Synchronization

/// The Docker plugin's network and IPAM driver, and the only writer of what the plugin keeps:
/// `docker.json` (`DockerState`: dockerd's network IDs, this host's copies of network
/// definitions, endpoints, the definitions' clock), the networks it is deleting itself
/// (`agentDeleting`), the backoff of refused engine calls, and the sync with dockerd
/// (`DockerDriver+Sync`).
///
/// What it needs of the overlay goes through calls to the overlay's owner (`OverlayController`):
/// make or remove a network's devices and host row (`takePart`, `stopTakingPart`), register
/// and withdraw endpoints, read the replica's definitions. It never writes the overlay's
/// state, and the overlay never writes the driver's: it reads what the driver publishes
/// (`Published.ownDefinitions`, after each change), raises the driver's clock floor (atomic,
/// commuting) with times it sees in the replica, and wakes the sync pass.
///
/// Multi-step operations (a network or endpoint made or removed, a sync step that changes the
/// state) run one at a time (`serially`), so each sees the state as the one before it left it
/// and undoes only its own change. Calls to dockerd are never made inside one: dockerd calls
/// the plugin back (`CreateNetwork`, `RequestPool`, `DeleteNetwork`) before an engine call
/// returns, so a sync pass decides inside, calls dockerd outside, and records the outcome
/// inside again. IPAM calls do not take part: they only read, and wait on the allocator.
actor DockerDriver {
    /// The driver's name, as `docker network create -d` and `--ipam-driver` give it.
    static let driverName = "grapevine"
    /// Waiting for dockerd to list what it is making (a network after CreateNetwork, a
    /// container on a network after Join): dockerd lists it milliseconds after the plugin
    /// answers, and the name reaches the other hosts only from then on, so the waits start at
    /// 20 ms and double to 1 s (full jitter), for at most 30 s.
    static var listingBackoff: Backoff { Backoff(base: .milliseconds(20), cap: .seconds(1)) }
    static let listingDeadline: Duration = .seconds(30)

    enum Command: Sendable {
        /// Learn a network's name once dockerd has stored it (`nameDockerNetwork`).
        case nameNetwork(id: String, vni: VNI)
        /// Learn a container's name once dockerd lists it on the network (`nameDockerEndpoint`).
        case nameEndpoint(id: String, network: String)
    }

    let host: String
    let logger: Logger
    let metrics: AgentMetrics
    let kernel: any KernelOperations
    let registry: EndpointRegistry
    let ipam: AllocatorOwner?
    let rows: any RowPublisher
    let store: any DockerDisk
    let engine: any DockerEngineCalls
    let overlay: OverlayController
    let published: Published
    /// The Join reply's static routes (`Agent.nameServiceRoutes(_:serving:)`), nil without a name service.
    let nameServiceRoutes: [DockerJoinReply.StaticRoute]?
    /// Whether containers' aliases are read for the name service.
    let readsAliases: Bool

    // Compared with what was last published rather than with `oldValue`: an observer that
    // reads `oldValue` keeps the old state alive across every in-place change, so each
    // endpoint written would copy the whole endpoint table.
    var state = DockerState() {
        didSet {
            if state.definitions != publishedDefinitions { publishDefinitions() }
        }
    }
    private var publishedDefinitions: [String: DockerState.Definition] = [:]
    /// Networks this agent is deleting in its dockerd because the cluster deleted them: their
    /// DeleteNetwork is not a user's, and is not announced again.
    var agentDeleting: Set<VNI> = []
    var lastCollect: ContinuousClock.Instant?
    /// Networks whose engine call failed or was refused, and when to try again.
    var backoff: [VNI: ContinuousClock.Instant] = [:]
    /// Endpoints whose removal did not finish, and what is left of each (`withdraw`).
    var withdrawing: [String: Remains] = [:]
    /// Definitions (by VNI) whose last publish failed: each sync pass publishes them again.
    var unpublished: Set<UInt32> = []
    /// A write no caller waited on failed: the file is behind the state until the next write,
    /// which the next sync pass makes if no other does.
    var unsaved = false
    private let input: AsyncStream<Command>.Continuation
    private let commands: AsyncStream<Command>
    private let oneAtATime = OneAtATime()

    /// - Parameters:
    ///   - store: `docker.json` (`DockerStore` in the agent).
    ///   - engine: dockerd's engine API (`DockerEngine` in the agent).
    init(host: String, store: any DockerDisk, engine: any DockerEngineCalls, overlay: OverlayController, published: Published,
         kernel: any KernelOperations, registry: EndpointRegistry, ipam: AllocatorOwner?, rows: any RowPublisher,
         nameServiceRoutes: [DockerJoinReply.StaticRoute]?, readsAliases: Bool, logger: Logger, metrics: AgentMetrics) {
        self.host = host
        self.overlay = overlay
        self.published = published
        self.kernel = kernel
        self.registry = registry
        self.ipam = ipam
        self.rows = rows
        self.nameServiceRoutes = nameServiceRoutes
        self.readsAliases = readsAliases
        self.logger = logger
        self.metrics = metrics
        self.store = store
        self.engine = engine
        (commands, input) = AsyncStream.makeStream(of: Command.self)
    }

    /// What the driver shares with the overlay without a call: its own definitions (written by
    /// the driver only, read by the replica follower for the allocator), the floor of the
    /// definitions' and block claims' Lamport time (raised by the follower with times it sees:
    /// atomic, commuting; stamped by the driver, kept in `state.clock` at each write), and the
    /// wake-up of a sync pass.
    final class Published: Sendable {
        let clock = LamportClock()
        private let definitions = Mutex<[VNI: NetworkDefinition]>([:])
        let wake: AsyncStream<Void>.Continuation
        let wakes: AsyncStream<Void>

        init() {
            (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        }

        /// This host's own copies of definitions (deleted ones too), by VNI, as of the last change.
        var ownDefinitions: [VNI: NetworkDefinition] { definitions.withLock { $0 } }

        /// A definition or block claim seen at `time` elsewhere: the next one made here is later.
        func observe(_ time: UInt64) { clock.observe(time) }

        /// The replica changed: a sync pass follows.
        func replicaChanged() { wake.yield() }

        fileprivate func publish(_ own: [VNI: NetworkDefinition]) { definitions.withLock { $0 = own } }
    }

    /// A Docker network restored at start (`load`): name (or `vni-N`), VNI and MTU.
    struct RestoredNetwork: Sendable {
        var name: String
        var vni: VNI
        var mtu: UInt32?
    }

    nonisolated var clock: LamportClock { published.clock }
    nonisolated var wake: AsyncStream<Void>.Continuation { published.wake }
    nonisolated var wakes: AsyncStream<Void> { published.wakes }

    private func publishDefinitions() {
        publishedDefinitions = state.definitions
        var out: [VNI: NetworkDefinition] = [:]
        for stored in state.definitions.values {
            if let d = stored.definition { out[d.vni] = d }
        }
        published.publish(out)
    }

    // MARK: life

    /// Reads `docker.json`: call before `run`.
    /// - Returns: the networks whose devices must come back before endpoints of them are
    ///   published: those this host's dockerd has, removed ones included (their containers
    ///   keep them until they leave). Name (or `vni-N`), VNI and MTU of each.
    /// - Throws: `StoreError` for a file that cannot be read.
    func load() throws(StoreError) -> [RestoredNetwork] {
        state = try store.load()
        clock.observe(state.clock)
        var out: [RestoredNetwork] = []
        for stored in state.definitions.values.sorted(by: { $0.vni < $1.vni }) where state.networks.values.contains(stored.vni) {
            guard let vni = VNI(stored.vni) else { continue }
            out.append(RestoredNetwork(name: stored.name.isEmpty ? "vni-\(stored.vni)" : stored.name, vni: vni, mtu: stored.mtu))
        }
        return out
    }

    /// The sync with dockerd (`syncLoop`) and the naming tasks `send` asks for, all children
    /// of this call, until cancelled.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.syncLoop() }
            for await command in commands {
                switch command {
                case .nameNetwork(let id, let vni): group.addTask { await self.nameDockerNetwork(id: id, vni: vni) }
                case .nameEndpoint(let id, let network): group.addTask { await self.nameDockerEndpoint(id: id, network: network) }
                }
            }
            group.cancelAll()
        }
    }

    /// Ends `run` (after the agent's run).
    nonisolated func finish() {
        input.finish()
        published.wake.finish()
    }

    func send(_ command: Command) { input.yield(command) }

    // MARK: one at a time

    /// Runs `body` when no other multi-step operation of the driver runs, and none starts
    /// before it ends. Not reentrant: `body` never calls another `serially` operation.
    func serially<T, E: Error>(_ body: () async throws(E) -> T) async throws(E) -> T {
        try await oneAtATime.run(body)
    }

    /// Operations waiting for `serially`.
    nonisolated var waitingSerially: Int { oneAtATime.waiting }

    // MARK: writing

    /// Writes `docker.json` on the persistence thread and returns once it is on disk.
    /// - Throws: `StoreError`, also counted and logged here.
    func save() async throws(StoreError) {
        state.clock = max(state.clock, clock.value)
        do {
            try await store.save(state)
            unsaved = false
        } catch {
            unsaved = true
            metrics.storeError(file: "docker")
            logger.error("cannot write the Docker state", metadata: ["store.error": "\(error)"])
            throw error
        }
    }

    /// For writes no caller waits on (a background pass, a call Docker gives no error for):
    /// `save` counted and logged a failure, and the next write carries the state.
    func saveReported() async {
        do { try await save() } catch { return }
    }

    /// A publish whose failure no caller can act on (the plugin call it belongs to has no error
    /// to give, or has already succeeded): counted and logged; the Docker rows are published
    /// again at the next start and sync pass.
    func publishReported(_ operation: String, _ body: () async throws -> Void) async {
        do { try await body() } catch {
            metrics.publishError(operation: operation)
            logger.warning("gossip publish failed", metadata: ["publish.operation": "\(operation)", "publish.error": "\(error)"])
        }
    }

    /// Publishes a definition; one whose publish fails is published again by each sync pass
    /// (`republish`) until it is out, so an acknowledged network reaches every host.
    func publishDefinition(_ definition: NetworkDefinition) async throws {
        do { try await rows.write(.network(definition)) } catch {
            unpublished.insert(definition.vni.value)
            throw error
        }
        unpublished.remove(definition.vni.value)
    }

    /// Each sync pass: this host's copies of definitions whose publish failed, published again
    /// (as they are now); and `docker.json` written again if a write nobody waited on failed.
    /// Inside `serially`.
    func republish() async {
        for raw in unpublished.sorted() {
            guard let definition = state.definitions[String(raw)]?.definition, !definition.name.isEmpty else {
                unpublished.remove(raw)
                continue
            }
            await publishReported("definition") { try await self.publishDefinition(definition) }
        }
        if unsaved { await saveReported() }
    }

    /// A time later than every definition and claim seen or made, and than `floor`.
    func nextTime(after floor: UInt64 = 0) -> UInt64 {
        clock.observe(max(floor, registry.clock.value, state.clock))
        return clock.next()
    }
}

extension DockerState.Definition {
    init(_ d: NetworkDefinition) {
        self.init(name: d.name, vni: d.vni.value, subnet: d.subnet.description, internal: d.internal,
                  deleted: d.deleted, time: d.time, origin: d.origin, mtu: d.mtu, subnet6: d.subnet6?.description,
                  gateway: d.gateway?.description, gateway6: d.gateway6?.description)
    }

    var definition: NetworkDefinition? {
        guard let vni = VNI(vni), let subnet = (try? Subnet(subnet)) else { return nil }
        var subnet6: Subnet?
        if let text = self.subnet6 {
            guard let s = try? Subnet(text) else { return nil }
            subnet6 = s
        }
        let gateway = self.gateway.flatMap(IPAddress.init), gateway6 = self.gateway6.flatMap(IPAddress.init)
        guard (gateway == nil) == (self.gateway == nil), (gateway6 == nil) == (self.gateway6 == nil) else { return nil }
        return NetworkDefinition(name: name, vni: vni, subnet: subnet, subnet6: subnet6, internal: `internal`,
                                 deleted: deleted, mtu: mtu, gateway: gateway, gateway6: gateway6, time: time, origin: origin)
    }
}
