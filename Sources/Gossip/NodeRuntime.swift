import GossipCore
import GossipWire
import Logging
import Metrics
import NIOCore
import NIOPosix

/// The shell around one `GossipInstance`: sockets, timers, snapshot, metrics. Lives on one
/// event loop and is only ever touched there, so the core needs no lock and no hop per packet.
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
    let metrics: NodeMetrics
    private(set) var core: GossipInstance
    var packetCodec: PacketCodec
    var streamCodec: StreamCodec
    private(set) var phase = Phase.idle

    // UDP transport (NodeRuntime+Datagrams.swift).
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

    // TCP (NodeRuntime+Streams.swift).
    var tcp: (any Channel)?
    var connections: [ObjectIdentifier: any Channel] = [:]
    /// Accepted connections whose request waits for the core's reply.
    var awaitingReply: [ConversationID: any Channel] = [:]
    var nextInbound: UInt64 = 0
    var streamBudget: StreamBudget
    /// The seeds of the join under way, in the order given, with what happened to each.
    var joinSeeds: [Address] = []
    var seedOutcomes: [Address: SeedFailure.Reason] = [:]

    private var timers: [UInt64: Scheduled<Void>] = [:]
    private var nextTimerKey: UInt64 = 0

    // Inputs that arrive while one is being handled (a connect that fails at once, a promise
    // callback) wait here, so the core never sees a nested call.
    private var handling = false
    private var queued: [Input] = []
    private var newEvents: [MembershipEvent] = []
    private var joinResults: [JoinOutcome] = []
    /// The join started last; only its outcome settles the waiters. Until the user joins, the
    /// core's own rejoin from a snapshot.
    private var currentJoin = NodeSnapshot.rejoinID
    private var leaveFinished = false
    private var leftGracefully = false

    private var joinWaiters: [EventLoopPromise<Int>] = []
    private var stopWaiters: [EventLoopPromise<Void>] = []

    private var snapshotScheduled = false
    private var snapshotWrite: EventLoopFuture<Void>?

    var udpAcks = 0
    var streamMessagesIn = 0
    var packetsIn = 0
    var packetsOut = 0

    init(configuration: GossipConfiguration, settings: Settings, core: GossipInstance, loop: any EventLoop, view: MembershipView) {
        self.configuration = configuration
        self.settings = settings
        self.core = core
        self.loop = loop
        self.view = view
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
    }

    var isActive: Bool { phase == .running || phase == .leaving }

    var transportSnapshot: TransportCounters {
        var t = transport
        t.inboundConnections = streamBudget.inbound
        t.streamBufferedBytes = streamBudget.buffered
        t.udpSuspectedBlocked = udpSilence.isBlocked
        return t
    }

    var now: Instant { Instant(nanoseconds: Int64(truncatingIfNeeded: NIODeadline.now().uptimeNanoseconds)) }

    var wireCounters: WireCounters {
        var all = packetCodec.counters
        all.merge(streamCodec.counters)
        return all
    }

    // MARK: start

    func start() -> EventLoopFuture<Void> {
        guard phase == .idle else { return loop.makeFailedFuture(GossipError.alreadyStarted) }
        phase = .starting
        let promise = loop.makePromise(of: Void.self)
        bindSockets(attempt: 1).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let bound):
                guard self.phase == .starting else {
                    bound.udp.close(promise: nil)
                    bound.tcp.close(promise: nil)
                    promise.fail(GossipError.notRunning)
                    return
                }
                do {
                    try self.started(bound)
                    promise.succeed(())
                } catch {
                    promise.fail(error)
                }
            case .failure(let error):
                if self.phase == .starting { self.phase = .idle }
                promise.fail(GossipError.bindFailed(address: self.configuration.bindAddress, reason: "\(error)"))
            }
        }
        return promise.futureResult
    }

    private struct BoundSockets: Sendable {
        var udp: any Channel
        var tcp: any Channel
    }

    /// Binds UDP first, then TCP on the port UDP got; with port 0 another process may hold that
    /// TCP port, so a few fresh ports are tried.
    private func bindSockets(attempt: Int) -> EventLoopFuture<BoundSockets> {
        let requested = configuration.bindAddress
        let address: SocketAddress
        do { address = try SocketAddress(requested) } catch { return loop.makeFailedFuture(error) }
        let me = NIOLoopBound(self, eventLoop: loop)
        let timeouts = streamTimeouts
        return bindDatagramChannel(to: address).flatMap { udp in
            var tcpAddress = address
            if let port = udp.localAddress?.port { tcpAddress.port = port }
            return ServerBootstrap(group: udp.eventLoop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 256)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            StreamHandler(runtime: me.value, role: .inbound, timeouts: timeouts))
                    }
                }
                .bind(to: tcpAddress)
                .map { BoundSockets(udp: udp, tcp: $0) }
                .flatMapError { error in
                    udp.close(promise: nil)
                    if requested.port == 0 && attempt < 8 { return me.value.bindSockets(attempt: attempt + 1) }
                    return udp.eventLoop.makeFailedFuture(error)
                }
        }
    }

    var streamTimeouts: StreamTimeouts {
        StreamTimeouts(
            idle: TimeAmount(configuration.streamIdleTimeout), firstFrame: TimeAmount(configuration.streamFirstFrameTimeout),
            lifetime: TimeAmount(configuration.streamMaxLifetime))
    }

    private func started(_ bound: BoundSockets) throws {
        tcp = bound.tcp
        let port = UInt16(clamping: bound.udp.localAddress?.port ?? 0)
        var advertised = configuration.advertiseAddress ?? configuration.bindAddress
        if advertised.port == 0 { advertised.port = port }
        let snapshot = loadSnapshot()
        // The core resumes one above the recorded incarnation and rejoins the snapshot's members
        // on start (`GossipInstance.init(resuming:…)`); the simulator restarts the same way.
        if let recorded = snapshot?.incarnation, recorded >= Limits.maxIncarnation {
            logger.warning(
                "snapshot incarnation is beyond the protocol's ceiling; starting at 0 and refuting whatever the cluster says",
                metadata: ["gossip.snapshot.incarnation": "\(recorded)", "gossip.incarnation.max": "\(Limits.maxIncarnation)"])
        }
        let seed = configuration.randomSeed ?? UInt64.random(in: .min ... .max)
        if let snapshot {
            core = try GossipInstance(
                resuming: snapshot.core, name: configuration.name, address: advertised, tags: configuration.tags,
                settings: settings, seed: seed)
        } else {
            core = try GossipInstance(
                name: configuration.name, address: advertised, tags: configuration.tags, settings: settings, seed: seed)
        }
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
        logRejoin(from: snapshot)
        handle(.start)
    }

    private func loadSnapshot() -> Snapshot? {
        guard let path = configuration.snapshotPath else { return nil }
        do { return try Snapshot.load(from: path) } catch {
            logger.warning("cannot read snapshot, starting without it", metadata: ["gossip.error": "\(error)"])
            return nil
        }
    }

    /// A restarted node finds its cluster again through the members it last knew (the core
    /// starts that join on `.start`).
    private func logRejoin(from snapshot: Snapshot?) {
        guard let snapshot else { return }
        if snapshot.left {
            logger.info("snapshot says this node left the cluster; not rejoining by itself")
            return
        }
        let seeds = snapshot.members.filter { $0.name != core.name && $0.address != core.address }.map(\.address)
        guard !seeds.isEmpty else { return }
        logger.info(
            "rejoining members from snapshot",
            metadata: ["gossip.snapshot.members": "\(seeds.count)", "gossip.snapshot.incarnation": "\(snapshot.incarnation)"])
    }

    // MARK: the core

    func handle(_ input: Input) {
        queued.append(input)
        guard !handling else { return }
        handling = true
        while !queued.isEmpty, isActive {
            let next = queued.removeFirst()
            process(next)
        }
        queued.removeAll(keepingCapacity: true)
        handling = false
        flushDatagrams()
        finishBatch()
    }

    private func process(_ input: Input) {
        let outputs = core.handle(input, now: now)
        for output in outputs {
            switch output {
            case .datagram(let to, let messages): sendDatagram(messages, to: to)
            case .stream(let to, let message, let c): sendStream(message, to: to, conversation: c)
            case .reply(let c, let message): sendReply(message, conversation: c)
            case .timer(let id, let at): arm(id, at: at)
            case .event(let event): newEvents.append(event)
            case .joinCompleted(let outcome): if outcome.id == currentJoin { joinResults.append(outcome) }
            case .leaveCompleted: leaveFinished = true
            case .refused(let reason, let from): refused(reason, from: from)
            case .nameConflict(let conflict): nameConflict(conflict)
            }
        }
        if case .timer(let id) = input, id.kind == .failureDetector(.probe) { periodicChecks() }
    }

    /// Runs after the core is done with a batch, so that promise callbacks and subscribers can
    /// call back in without nesting.
    private func finishBatch() {
        if !newEvents.isEmpty {
            for e in newEvents { log(e) }
            let members = core.knownMembers
            view.publish(newEvents, members: members)
            metrics.members(members)
            newEvents.removeAll(keepingCapacity: true)
            snapshotChanged()
        }
        if !joinResults.isEmpty {
            let outcome = joinResults.last ?? JoinOutcome(id: currentJoin, contacted: 0)
            joinResults.removeAll()
            if let conflict = outcome.conflict {
                // The name is held at the address the other claim names.
                finishJoin(.failure(.nameConflict(name: conflict.name, heldAt: conflict.claimed)))
            } else if outcome.contacted > 0 {
                logger.info("joined cluster", metadata: ["gossip.join.contacted": "\(outcome.contacted)"])
                finishJoin(.success(outcome.contacted))
            } else {
                finishJoin(.failure(joinFailure()))
            }
        }
        if leaveFinished {
            leaveFinished = false
            leftGracefully = true
            logger.info("left the cluster")
            stop()
        }
    }

    private func finishJoin(_ result: Result<Int, GossipError>) {
        if case .failure(let error) = result {
            logger.warning("\(error)")
        }
        joinSeeds = []
        seedOutcomes = [:]
        let waiters = joinWaiters
        joinWaiters.removeAll()
        for w in waiters { w.completeWith(result.mapError { $0 as any Error }) }
    }

    /// Per seed, what happened the last time this node tried it.
    private func joinFailure() -> GossipError {
        .joinFailed(seeds: joinSeeds.map { SeedFailure(seed: $0, reason: seedOutcomes[$0] ?? .noAnswer) })
    }

    /// The core refused input (already counted in `Counters.refusals`, exported by `flush`):
    /// the first of each reason is logged with its sender, the rest go into the minute's summary.
    private func refused(_ reason: Refusal, from: Address) {
        if coreRefusalReports.record(reason, reason: reason.description) == .report {
            logger.warning(
                "refused input from \(from): \(reason) (further refusals are summarised once a minute)",
                metadata: ["gossip.peer.address": "\(from)", "gossip.reason": "\(reason)"])
        }
    }

    private func nameConflict(_ c: NameConflict) {
        metrics.nameConflict()
        logger.warning(
            "\(c)\(c.isSelf ? " (this node's own name)" : "")",
            metadata: [
                "gossip.peer": "\(Limits.escaped(c.name))", "gossip.peer.address": "\(c.claimed)",
                "gossip.conflict.known": "\(c.known)",
            ])
    }

    /// Tags as `k=v,k=v`, each part escaped.
    static func escaped(_ tags: Tags) -> String {
        tags.map { "\(Limits.escaped($0.key))=\(Limits.escaped($0.value))" }.joined(separator: ",")
    }

    private func log(_ event: MembershipEvent) {
        let m = event.member
        var metadata: Logger.Metadata = [
            "gossip.peer": "\(Limits.escaped(m.name))", "gossip.peer.address": "\(m.address)",
            "gossip.peer.incarnation": "\(m.incarnation)",
        ]
        if !m.tags.isEmpty && (event.kind == .joined || event.kind == .updated) {
            metadata["gossip.peer.tags"] = "\(Self.escaped(m.tags))"
        }
        switch event.kind {
        case .joined: logger.info("member joined", metadata: metadata)
        case .updated: logger.info("member updated", metadata: metadata)
        case .suspected: logger.info("member suspected", metadata: metadata)
        case .recovered: logger.info("member refuted its suspicion", metadata: metadata)
        case .failed: logger.info("member failed", metadata: metadata)
        case .left: logger.info("member left", metadata: metadata)
        case .reaped: logger.info("member reaped", metadata: metadata)
        }
    }

    /// Once per protocol period: metrics, the UDP reachability check, and the summaries of
    /// problems logged rate-limited.
    private func periodicChecks() {
        metrics.flush(core, wire: wireCounters)
        metrics.streams(inbound: streamBudget.inbound, buffered: streamBudget.buffered)
        if case .blocked(let probes, let streams) = udpSilence.probesSent(total: core.counters.probes) {
            metrics.udpSuspectedBlocked(true)
            logger.warning(
                "no UDP ack has arrived in the last \(probes) probes, yet \(streams) TCP messages did: UDP port \(core.address.port) is probably blocked between this node and the cluster, and members will declare it failed",
                metadata: ["gossip.probes": "\(probes)", "gossip.udp.port": "\(core.address.port)"])
        }
        logSummaries()
    }

    // MARK: timers

    private func arm(_ id: TimerID, at: Instant) {
        schedule(at: .uptimeNanoseconds(UInt64(clamping: at.nanoseconds))) { $0.handle(.timer(id)) }
    }

    func schedule(at deadline: NIODeadline, _ body: @escaping (NodeRuntime) -> Void) {
        let key = nextTimerKey
        nextTimerKey &+= 1
        timers[key] = loop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timers[key] = nil
            body(self)
        }
    }

    // MARK: snapshot

    /// Coalesces a burst of changes (a join brings N members at once) into one write.
    private func snapshotChanged() {
        guard configuration.snapshotPath != nil, !snapshotScheduled, isActive else { return }
        snapshotScheduled = true
        schedule(at: .now() + TimeAmount(configuration.snapshotInterval)) { runtime in
            runtime.snapshotScheduled = false
            runtime.writeSnapshot()
        }
    }

    /// Writes on NIO's thread pool: an fsync can take tens of milliseconds, long enough to make
    /// the loop miss probe timeouts. Writes are chained, so the newest snapshot lands last.
    @discardableResult
    private func writeSnapshot() -> EventLoopFuture<Void> {
        guard let path = configuration.snapshotPath else { return loop.makeSucceededVoidFuture() }
        var taken = core.snapshot(limit: configuration.snapshotMaxMembers)
        taken.left = taken.left || leftGracefully
        let snapshot = Snapshot(taken)
        let logger = self.logger
        let loop = self.loop
        let previous = snapshotWrite ?? loop.makeSucceededVoidFuture()
        let next = previous.flatMap {
            NIOThreadPool.singleton.runIfActive(eventLoop: loop) { try snapshot.save(to: path) }
        }.flatMapErrorThrowing { error in
            logger.warning("cannot write snapshot", metadata: ["gossip.error": "\(error)"])
        }
        snapshotWrite = next
        return next
    }

    // MARK: join, leave, stop

    func join(_ seeds: [Address], promise: EventLoopPromise<Int>) {
        guard phase == .running else {
            promise.fail(GossipError.notRunning)
            return
        }
        joinWaiters.append(promise)
        logger.info("joining", metadata: ["gossip.seeds": "\(seeds.map(\.description).joined(separator: ","))"])
        // A seed this node cannot send datagrams to would be joined over TCP and then flap
        // failed/joined forever: refused here, with the reason.
        var usable: [Address] = []
        for seed in seeds {
            if !joinSeeds.contains(seed) { joinSeeds.append(seed) }
            if let refusal = destinationPolicy.check(seed), refusal != .recentlyFailed {
                seedOutcomes[seed] = .unusableAddress(refusal.description)
            } else {
                seedOutcomes[seed] = nil
                usable.append(seed)
            }
        }
        if usable.isEmpty {
            finishJoin(.failure(joinFailure()))
            return
        }
        startCoreJoin(usable)
    }

    /// The core runs joins side by side; the waiters take the outcome of the one started last.
    private func startCoreJoin(_ seeds: [Address]) {
        currentJoin = JoinID(raw: currentJoin.raw + 1)
        handle(.join(seeds: seeds, id: currentJoin))
    }

    /// False unless running: tags set while leaving or stopped would never be announced.
    func setTags(_ tags: Tags) -> Bool {
        guard phase == .running else { return false }
        handle(.setTags(tags))
        return true
    }

    /// Graceful: the departure is gossiped, then the node stops on the core's `leaveCompleted`.
    func beginLeave() {
        switch phase {
        case .running:
            phase = .leaving
            logger.info("leaving the cluster")
            handle(.leave)
        case .idle, .starting:
            stop()
        case .leaving, .stopping, .stopped:
            break
        }
    }

    func whenStopped(_ promise: EventLoopPromise<Void>) {
        if phase == .stopped { promise.succeed(()) } else { stopWaiters.append(promise) }
    }

    /// Closes every socket and cancels every timer; complete once all sockets are closed.
    func stop() {
        guard phase != .stopping, phase != .stopped else { return }
        let wasActive = isActive
        phase = .stopping
        for t in timers.values { t.cancel() }
        timers.removeAll()
        var closed: [EventLoopFuture<Void>] = []
        if wasActive {
            // A restart reads this file: stopping is complete only once it is written.
            closed.append(writeSnapshot())
            metrics.flush(core, wire: wireCounters)
            if !leftGracefully { logger.info("gossip node stopped without leaving") }
        }
        let channels = [udp, tcp].compactMap { $0 } + Array(connections.values)
        udp = nil
        tcp = nil
        for channel in channels {
            channel.close(promise: nil)
            closed.append(channel.closeFuture)
        }
        let joins = joinWaiters
        joinWaiters.removeAll()
        for w in joins { w.fail(GossipError.notRunning) }
        EventLoopFuture.andAllComplete(closed, on: loop).assumeIsolated().whenComplete { _ in
            self.phase = .stopped
            self.connections.removeAll()
            self.view.finish()
            let waiters = self.stopWaiters
            self.stopWaiters.removeAll()
            for w in waiters { w.succeed(()) }
        }
    }
}
