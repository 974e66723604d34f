import GossipCore
import GossipWire
import Logging
import Metrics
import NIOCore
import NIOPosix

/// The shell around one `GossipInstance`: its phases, and the state of the parts that do the
/// work (`Runtime/`: the core driver, transport, joins, timers, snapshot store;
/// `Observability/`: logs and metrics). Lives on one event loop and is only ever touched there,
/// so the core needs no lock and no hop per packet.
///
/// idle → starting → running → leaving → stopping → stopped; `stop` goes to stopping from any
/// phase, and a node never leaves stopped (a node runs once).
final class NodeRuntime {
    enum Phase { case idle, starting, running, leaving, stopping, stopped }

    enum FrameOutcome {
        case needMoreData
        /// A frame was handed to the core; read on.
        case delivered
        /// A frame was handed to the core, and the connection is done: the runtime closes it.
        case finished
        case refused(StreamBudget.Refusal?)
    }

    let loop: any EventLoop
    let configuration: GossipConfiguration
    let settings: Settings
    private(set) var logger: Logger
    let view: MembershipView
    let hubs: ApplicationHubs
    /// User events and queries (Runtime/Application.swift).
    var app = ApplicationState()
    let metrics: NodeMetrics
    /// Made once, at start, when the port and the snapshot are known; nil before.
    var core: GossipInstance?
    /// Both hold the current keyring; `Runtime/KeyringChanges.swift` changes it.
    var packetCodec: PacketCodec
    var streamCodec: StreamCodec
    var keyOperations = KeyOperationCounters()
    private(set) var phase = Phase.idle

    // UDP transport (Runtime/Transport+Datagrams.swift).
    var udp: (any Channel)?
    /// Where the UDP socket is bound (with the port actually bound): a rebind goes there.
    var udpBound: SocketAddress?
    /// Tells a socket's write failures from those of the socket that replaced it.
    var udpGeneration = 0
    /// The generation whose closing write error has been attributed to its destination.
    var udpCulpritGeneration = -1
    var udpRebindAttempt = 0
    var destinationPolicy: DestinationPolicy
    /// Destinations a send to which closed the socket: until when they are refused, and how
    /// often it happened (the wait doubles).
    var failedDestinations: [Address: (until: Instant, strikes: Int)] = [:]
    var sendErrorReports = RateLimitedReports<Address>()
    var sendRefusalReports = RateLimitedReports<Address>()
    var wireRefusalReports = RateLimitedReports<Address>()
    var streamRefusalReports = RateLimitedReports<Address>()
    var coreRefusalReports = RateLimitedReports<Refusal>()
    var transport = TransportCounters()
    var received: [Message] = []
    var datagramsPending = false
    var addressCache: [Address: SocketAddress] = [:]
    var udpSilence: UDPSilenceDetector
    /// The socket that checks a probed member's port (Runtime/PortCheck.swift), opened on first use.
    var portCheck: PortCheckSocket?
    var portCheckDisabled = false

    // TCP (Runtime/Transport+Streams.swift).
    var tcp: (any Channel)?
    var connections: [ObjectIdentifier: any Channel] = [:]
    /// Accepted connections whose request waits for the core's reply.
    var awaitingReply: [ConversationID: any Channel] = [:]
    var nextInbound: UInt64 = 0
    var streamBudget: StreamBudget

    // The core driver (Runtime/CoreDriver.swift).
    var handling = false
    var queued: [Input] = []
    var newEvents: [MembershipEvent] = []
    var joinOutcomes: [JoinOutcome] = []
    var leaveFinished = false
    var leftGracefully = false

    /// Callers' joins under way (Runtime/Joins.swift).
    var joins: [JoinWaiter] = []
    /// The id of the next join handed to the core; 0 is the core's own rejoin from a snapshot.
    var nextJoinID = NodeSnapshot.rejoinID.raw + 1
    let timers: Timers
    let snapshots: SnapshotStore?
    let keyrings: KeyringStore?
    private var stopWaiters: [() -> Void] = []

    var udpAcks = 0
    var streamMessagesIn = 0
    var packetsIn = 0
    var packetsOut = 0

    init(configuration: GossipConfiguration, loop: any EventLoop, view: MembershipView, hubs: ApplicationHubs) {
        self.configuration = configuration
        self.settings = configuration.effectiveSettings
        self.loop = loop
        self.view = view
        self.hubs = hubs
        var logger = configuration.logger
        logger[metadataKey: "gossip.member"] = "\(configuration.name)"
        self.logger = logger
        self.metrics = NodeMetrics(node: configuration.name, factory: configuration.metricsFactory ?? MetricsSystem.factory)
        self.packetCodec = PacketCodec(keyring: configuration.keyring, label: configuration.label)
        self.streamCodec = StreamCodec(
            keyring: configuration.keyring, label: configuration.label, maxFrameSize: configuration.maxFrameSize)
        self.destinationPolicy = DestinationPolicy(bound: configuration.bindAddress)
        self.udpSilence = UDPSilenceDetector(window: configuration.udpSilenceWarningProbes)
        self.streamBudget = StreamBudget(
            maxInbound: configuration.maxInboundConnections,
            maxInboundPerHost: configuration.maxInboundConnectionsPerHost,
            maxBuffered: configuration.maxStreamBufferedBytes,
            maxBufferedPerHost: configuration.maxStreamBufferedBytesPerHost)
        self.timers = Timers(loop: loop)
        self.keyrings = configuration.keyringPath.map { KeyringStore(path: $0, loop: loop, logger: logger) }
        self.snapshots = configuration.snapshotPath.map {
            SnapshotStore(
                path: $0, interval: configuration.snapshotInterval, loop: loop, logger: logger,
                onWritten: configuration.onSnapshotWritten)
        }
        registerKeyQueries()
    }

    var isActive: Bool { phase == .running || phase == .leaving }

    var now: Instant { Instant(nanoseconds: Int64(truncatingIfNeeded: NIODeadline.now().uptimeNanoseconds)) }

    var wireCounters: WireCounters {
        var all = packetCodec.counters
        all.merge(streamCodec.counters)
        return all
    }

    @discardableResult
    func schedule(at deadline: NIODeadline, _ body: @escaping (NodeRuntime) -> Void) -> UInt64 {
        timers.schedule(at: deadline) { body(self) }
    }

    func cancelTimer(_ key: UInt64) { timers.cancel(key) }

    // MARK: start

    func start(_ complete: @escaping (Result<StartResult, GossipError>) -> Void) {
        guard phase == .idle else { return complete(.failure(.alreadyStarted)) }
        phase = .starting
        let snapshotPath = configuration.snapshotPath
        let keyringPath = configuration.keyringPath
        let keyring = packetCodec.keyring
        // The files are checked before anything is bound: a node that could not keep them would
        // run, and forget its cluster or its keys on the next restart.
        NIOThreadPool.singleton.runIfActive(eventLoop: loop) { () -> Result<Keyring?, GossipError> in
            do throws(GossipError) {
                return .success(try Self.prepareFiles(snapshotPath: snapshotPath, keyringPath: keyringPath, keyring: keyring))
            } catch {
                return .failure(error)
            }
        }.assumeIsolated().whenComplete { result in
            let prepared: Result<Keyring?, GossipError> =
                switch result {
                case .success(let r): r
                case .failure: .failure(.notRunning)  // the thread pool is shutting down
                }
            switch prepared {
            case .failure(let error):
                if self.phase == .starting { self.phase = .idle }
                complete(.failure(error))
            case .success(let stored):
                guard self.phase == .starting else { return complete(.failure(.notRunning)) }
                if let stored, stored != self.packetCodec.keyring {
                    self.packetCodec.keyring = stored
                    self.streamCodec.keyring = stored
                    self.logger.info(
                        "keyring read from keyringPath",
                        metadata: ["gossip.key.primary": "\(stored.primary.fingerprint)", "gossip.keys": "\(stored.keys.count)"])
                }
                self.bind(complete)
            }
        }
    }

    /// Throws `storageFailed` unless the snapshot can be written; returns the keyring kept at
    /// `keyringPath`, or keeps `keyring` there when there is none yet (and returns nil).
    private static func prepareFiles(
        snapshotPath: String?, keyringPath: String?, keyring: Keyring?
    ) throws(GossipError) -> Keyring? {
        if let snapshotPath {
            do throws(StoredFileError) { try StoredFile.checkWritable(snapshotPath) } catch {
                throw .storageFailed(setting: "snapshotPath", reason: "\(error)")
            }
        }
        guard let keyringPath, let keyring else { return nil }
        do throws(StoredFileError) {
            if let stored = try KeyringStore.load(from: keyringPath) { return stored }
            try StoredFile.replace(keyringPath, with: KeyringStore.encode(keyring))
            return nil
        } catch {
            throw .storageFailed(setting: "keyringPath", reason: "\(error)")
        }
    }

    private func bind(_ complete: @escaping (Result<StartResult, GossipError>) -> Void) {
        bindSockets(attempt: 1).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let bound):
                guard self.phase == .starting else {
                    bound.udp.close(promise: nil)
                    bound.tcp.close(promise: nil)
                    return complete(.failure(.notRunning))
                }
                complete(self.started(bound))
            case .failure(let error):
                // A stop while binding already moved on; otherwise the node may try again.
                if self.phase == .starting { self.phase = .idle }
                complete(.failure(.bindFailed(address: self.configuration.bindAddress, underlying: error)))
            }
        }
    }

    private func started(_ bound: BoundSockets) -> Result<StartResult, GossipError> {
        let port = UInt16(clamping: bound.udp.localAddress?.port ?? 0)
        var advertised = configuration.advertiseAddress ?? configuration.bindAddress
        if advertised.port == 0 { advertised.port = port }
        let snapshot = snapshots?.load()
        // The core resumes one above the recorded incarnation and rejoins the snapshot's members
        // on start (`GossipInstance.init(resuming:…)`); the simulator restarts the same way. A
        // file is outside input: an incarnation at or past the ceiling is refused, not wrapped.
        if let recorded = snapshot?.incarnation, recorded >= Limits.maxIncarnation {
            logger.warning(
                "snapshot incarnation is beyond the protocol's ceiling; starting at 0 and refuting whatever the cluster says",
                metadata: ["gossip.snapshot.incarnation": "\(recorded)", "gossip.incarnation.max": "\(Limits.maxIncarnation)"])
        }
        let seed = configuration.randomSeed ?? UInt64.random(in: .min ... .max)
        let instance: GossipInstance
        do {
            if let snapshot {
                instance = try GossipInstance(
                    resuming: snapshot.core, name: configuration.name, address: advertised, tags: configuration.tags,
                    settings: settings, seed: seed)
            } else {
                instance = try GossipInstance(
                    name: configuration.name, address: advertised, tags: configuration.tags, settings: settings, seed: seed)
            }
        } catch {
            // validate() checked the same settings and name; only the snapshot is new here.
            bound.udp.close(promise: nil)
            bound.tcp.close(promise: nil)
            phase = .idle
            return .failure(GossipError(error))
        }
        core = instance
        tcp = bound.tcp
        logger[metadataKey: "gossip.address"] = "\(advertised)"
        destinationPolicy.localBroadcasts = DestinationPolicy.localIPv4Broadcasts()
        phase = .running
        adoptDatagramChannel(bound.udp)
        logger.info("gossip node started", metadata: ["gossip.sealed": "\(configuration.keyring != nil)"])
        if configuration.keyring == nil {
            logger.warning(
                "running in plaintext (no keyring): anyone who can reach port \(port) can join this cluster, inject members, forge failures and read the membership; set a keyring unless the network is trusted"
            )
        }
        let rejoining = rejoinCount(from: snapshot)
        handle(.start)
        return .success(
            StartResult(address: advertised, incarnation: instance.currentIncarnation, snapshotFound: snapshot != nil,
                        rejoining: rejoining))
    }

    /// A restarted node finds its cluster again through the members it last knew: the core
    /// starts that join on `.start`. Returns how many it contacts, and says so in the log.
    private func rejoinCount(from snapshot: Snapshot?) -> Int {
        guard let snapshot, let core else { return 0 }
        if snapshot.left {
            logger.info("snapshot says this node left the cluster; not rejoining by itself")
            return 0
        }
        let seeds = snapshot.members.filter { $0.name != core.name && $0.address != core.address }.map(\.address)
        guard !seeds.isEmpty else { return 0 }
        logger.info(
            "rejoining members from snapshot",
            metadata: ["gossip.snapshot.members": "\(seeds.count)", "gossip.snapshot.incarnation": "\(snapshot.incarnation)"])
        return seeds.count
    }

    // MARK: running

    /// False unless running: tags set while leaving or stopped would never be announced.
    func setTags(_ tags: Tags) -> Bool {
        guard phase == .running else { return false }
        handle(.setTags(tags))
        return true
    }

    func statistics() -> NodeStatistics {
        var t = transport
        t.inboundConnections = streamBudget.inbound
        t.streamBufferedBytes = streamBudget.buffered
        t.udpSuspectedBlocked = udpSilence.isBlocked
        var s = NodeStatistics(
            address: core?.address ?? configuration.advertiseAddress ?? configuration.bindAddress,
            core: core?.counters ?? Counters(), wire: wireCounters, localHealth: core?.localHealth ?? 0,
            incarnation: core?.currentIncarnation ?? 0, udpAcks: udpAcks, streamMessagesIn: streamMessagesIn,
            packetsIn: packetsIn, packetsOut: packetsOut, snapshotsWritten: snapshots?.written ?? 0, transport: t)
        s.keyOperations = keyOperations
        s.keyringsWritten = keyrings?.written ?? 0
        s.stateRowsHeld = app.rowsHeld
        return s
    }

    /// What the runtime still holds; all zero once stopped (tests check for leaks with it).
    var held: (connections: Int, timers: Int, awaitingReply: Int, joins: Int, channels: Int) {
        (connections.count, timers.count, awaitingReply.count, joins.count, [udp, tcp].compactMap { $0 }.count)
    }

    // MARK: snapshot

    func snapshotChanged() {
        guard isActive, let snapshots else { return }
        snapshots.changed(timers: timers) { [self] in currentSnapshot }
    }

    private var currentSnapshot: Snapshot? {
        guard let core else { return nil }
        var taken = core.snapshot(limit: configuration.snapshotMaxMembers)
        taken.left = taken.left || leftGracefully
        return Snapshot(taken)
    }

    // MARK: leave, stop

    /// Graceful: the departure is gossiped, then the node stops on the core's `leaveCompleted`.
    func beginLeave() {
        switch phase {
        case .running:
            phase = .leaving
            logger.info("leaving the cluster")
            // A join under way would race the goodbye; it ends here.
            for waiter in joins { finishJoin(waiter, .failure(.notRunning)) }
            handle(.leave)
        case .idle, .starting:
            stop()
        case .leaving, .stopping, .stopped:
            break
        }
    }

    func whenStopped(_ done: @escaping () -> Void) {
        if phase == .stopped { done() } else { stopWaiters.append(done) }
    }

    /// Closes every socket and cancels every timer; complete once all sockets are closed and
    /// the last snapshot is written.
    func stop() {
        guard phase != .stopping, phase != .stopped else { return }
        let wasActive = isActive
        phase = .stopping
        timers.cancelAll()
        for waiter in joins { finishJoin(waiter, .failure(.notRunning)) }
        var closed: [EventLoopFuture<Void>] = []
        if wasActive, let core {
            // A restart reads this file: stopping is complete only once it is written.
            if let snapshots, let snapshot = currentSnapshot { closed.append(snapshots.write(snapshot)) }
            metrics.flush(core, wire: wireCounters, stateRowsHeld: app.rowsHeld)
            if !leftGracefully { logger.info("gossip node stopped without leaving") }
        }
        if let keyrings { closed.append(keyrings.settled) }
        portCheck?.close()
        portCheck = nil
        let channels = [udp, tcp].compactMap { $0 } + Array(connections.values)
        udp = nil
        tcp = nil
        for channel in channels {
            channel.close(promise: nil)
            closed.append(channel.closeFuture)
        }
        EventLoopFuture.andAllComplete(closed, on: loop).assumeIsolated().whenComplete { _ in
            self.phase = .stopped
            self.connections.removeAll()
            self.awaitingReply.removeAll()
            // Timers a closing channel's callback armed on its way out.
            self.timers.cancelAll()
            self.view.finish()
            self.finishApplication()
            let waiters = self.stopWaiters
            self.stopWaiters.removeAll()
            for w in waiters { w() }
        }
    }
}
