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

    enum FrameOutcome { case needMoreData, delivered, refused }

    let loop: any EventLoop
    let configuration: GossipConfiguration
    let settings: Settings
    private(set) var logger: Logger
    let view: MembershipView
    let metrics: NodeMetrics
    private(set) var core: GossipInstance
    private var packetCodec: PacketCodec
    private var streamCodec: StreamCodec
    private(set) var phase = Phase.idle

    private var udp: (any Channel)?
    private var tcp: (any Channel)?
    private var connections: [ObjectIdentifier: any Channel] = [:]
    /// Accepted connections whose request waits for the core's reply.
    private var awaitingReply: [ConversationID: any Channel] = [:]
    private var nextInbound: UInt64 = 1
    private var timers: [UInt64: Scheduled<Void>] = [:]
    private var nextTimerKey: UInt64 = 0
    private var addressCache: [Address: SocketAddress] = [:]

    // Inputs that arrive while one is being handled (a connect that fails at once, a promise
    // callback) wait here, so the core never sees a nested call.
    private var handling = false
    private var queued: [Input] = []
    private var received: [Message] = []
    private var datagramsPending = false
    private var newEvents: [MembershipEvent] = []
    private var joinResults: [JoinOutcome] = []
    private var leaveFinished = false
    private var leftGracefully = false

    private var joinWaiters: [EventLoopPromise<JoinOutcome>] = []
    private var stopWaiters: [EventLoopPromise<Void>] = []

    private var snapshotScheduled = false
    private var snapshotWrite: EventLoopFuture<Void>?

    // What tells a node that its UDP is blocked while TCP works.
    private(set) var udpAcks = 0
    private(set) var streamMessagesIn = 0
    private var udpWarned = false
    private(set) var packetsIn = 0
    private(set) var packetsOut = 0

    init(configuration: GossipConfiguration, settings: Settings, core: sending GossipInstance, loop: any EventLoop, view: MembershipView) {
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
        self.streamCodec = StreamCodec(keyring: configuration.keyring, label: configuration.label)
    }

    var isActive: Bool { phase == .running || phase == .leaving }

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
        let receiveSize = max(2048, settings.packetBudget)
        let udpFuture = DatagramBootstrap(group: loop)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: receiveSize))
            .channelOption(.maxMessagesPerRead, value: 16)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DatagramHandler(runtime: me.value))
                }
            }
            .bind(to: address)
        let timeout = TimeAmount(configuration.streamIdleTimeout)
        return udpFuture.flatMap { udp in
            var tcpAddress = address
            if let port = udp.localAddress?.port { tcpAddress.port = port }
            return ServerBootstrap(group: udp.eventLoop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(StreamHandler(runtime: me.value, timeout: timeout))
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

    private func started(_ bound: BoundSockets) throws {
        udp = bound.udp
        tcp = bound.tcp
        let port = UInt16(clamping: bound.udp.localAddress?.port ?? 0)
        var advertised = configuration.advertiseAddress ?? configuration.bindAddress
        if advertised.port == 0 { advertised.port = port }
        let snapshot = loadSnapshot()
        // One above the last incarnation used: whatever the cluster last heard of this name, the
        // restarted process outranks it.
        let resumed = snapshot.map { $0.incarnation &+ 1 } ?? 0
        core = try GossipInstance(
            name: configuration.name, address: advertised, tags: configuration.tags, settings: settings,
            seed: configuration.randomSeed ?? UInt64.random(in: .min ... .max), incarnation: resumed)
        logger[metadataKey: "gossip.address"] = "\(advertised)"
        phase = .running
        logger.info("gossip node started", metadata: ["gossip.sealed": "\(configuration.keyring != nil)"])
        handle(.start)
        rejoin(from: snapshot)
    }

    private func loadSnapshot() -> Snapshot? {
        guard let path = configuration.snapshotPath else { return nil }
        do { return try Snapshot.load(from: path) } catch {
            logger.warning("cannot read snapshot, starting without it", metadata: ["gossip.error": "\(error)"])
            return nil
        }
    }

    /// A restarted node finds its cluster again through the members it last knew.
    private func rejoin(from snapshot: Snapshot?) {
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
        handle(.join(seeds: seeds))
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
            case .joinCompleted(let outcome): joinResults.append(outcome)
            case .leaveCompleted: leaveFinished = true
            case .refused(let reason, let from):
                logger.debug("refused input", metadata: ["gossip.peer.address": "\(from)", "gossip.reason": "\(reason)"])
            case .nameConflict(let c):
                logger.warning("\(c)", metadata: ["gossip.peer": "\(Limits.escaped(c.name))", "gossip.peer.address": "\(c.claimed)"])
            }
        }
        if case .timer(let id) = input, id.kind == .probe { periodicChecks() }
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
            let results = joinResults
            joinResults.removeAll()
            let waiters = joinWaiters
            joinWaiters.removeAll()
            for r in results {
                if let c = r.conflict {
                    logger.warning("join refused: \(c)")
                } else if r.contacted > 0 {
                    logger.info("joined cluster", metadata: ["gossip.join.contacted": "\(r.contacted)"])
                } else {
                    logger.warning("join failed: no seed answered")
                }
            }
            for w in waiters { w.succeed(results.last ?? JoinOutcome(contacted: 0)) }
        }
        if leaveFinished {
            leaveFinished = false
            leftGracefully = true
            logger.info("left the cluster")
            stop()
        }
    }

    private func log(_ event: MembershipEvent) {
        let m = event.member
        let metadata: Logger.Metadata = [
            "gossip.peer": "\(m.name)", "gossip.peer.address": "\(m.address)",
            "gossip.peer.incarnation": "\(m.incarnation)",
        ]
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

    /// Once per protocol period: metrics, and the UDP reachability check.
    private func periodicChecks() {
        metrics.flush(core: core.counters, wire: wireCounters, health: core.localHealth)
        guard !udpWarned, udpAcks == 0, streamMessagesIn > 0,
            core.counters.probes >= configuration.udpSilenceWarningProbes
        else { return }
        udpWarned = true
        metrics.udpSuspectedBlocked(true)
        logger.warning(
            "no UDP ack has arrived from any member, yet TCP exchanges work: UDP port \(core.address.port) is probably blocked between this node and the cluster, and members will declare it failed",
            metadata: ["gossip.probes": "\(core.counters.probes)", "gossip.udp.port": "\(core.address.port)"])
    }

    // MARK: datagrams

    func receiveDatagram(_ data: ByteBuffer, from source: SocketAddress) {
        guard isActive else { return }
        packetsIn += 1
        metrics.pendingPacketsIn += 1
        metrics.pendingBytesIn += data.readableBytes
        guard let from = Address(source) else { return }
        var packet = data
        received.removeAll(keepingCapacity: true)
        guard packetCodec.decode(&packet, into: &received) else {
            logger.debug("dropped datagram", metadata: ["gossip.peer.address": "\(from)", "gossip.drops": "\(packetCodec.counters.totalDrops)"])
            return
        }
        for m in received {
            guard case .ack = m else { continue }
            udpAcks += 1
            if udpWarned {
                udpWarned = false
                metrics.udpSuspectedBlocked(false)
                logger.info("UDP acks arrive again", metadata: ["gossip.peer.address": "\(from)"])
            }
            break
        }
        handle(.datagram(from: from, messages: received))
    }

    private func sendDatagram(_ messages: [Message], to: Address) {
        guard let udp, let target = socketAddress(for: to) else { return }
        var buffer = udp.allocator.buffer(capacity: settings.packetBudget)
        do {
            try packetCodec.encode(messages, into: &buffer, budget: settings.packetBudget)
        } catch {
            logger.debug("datagram not sent", metadata: ["gossip.peer.address": "\(to)", "gossip.error": "\(error)"])
            return
        }
        packetsOut += 1
        metrics.pendingPacketsOut += 1
        metrics.pendingBytesOut += buffer.readableBytes
        udp.write(AddressedEnvelope(remoteAddress: target, data: buffer), promise: nil)
        datagramsPending = true
    }

    func flushDatagrams() {
        guard datagramsPending else { return }
        datagramsPending = false
        udp?.flush()
    }

    private func socketAddress(for address: Address) -> SocketAddress? {
        if let known = addressCache[address] { return known }
        guard let made = try? SocketAddress(address) else {
            logger.debug("unusable address", metadata: ["gossip.peer.address": "\(address)"])
            return nil
        }
        // Addresses come from the network: a bound keeps a stream of fake ones from growing it.
        if addressCache.count >= 4096 { addressCache.removeAll(keepingCapacity: true) }
        addressCache[address] = made
        return made
    }

    // MARK: streams

    /// Opens a connection for one of the core's conversations: the request goes out, and the
    /// reply comes back on the same connection, read by its `StreamHandler`.
    private func sendStream(_ message: StreamMessage, to: Address, conversation: ConversationID) {
        var frame = ByteBuffer()
        do {
            try streamCodec.encode(.stream(message), into: &frame)
        } catch {
            logger.debug("stream message not sent", metadata: ["gossip.peer.address": "\(to)", "gossip.error": "\(error)"])
            handle(.streamFailed(conversation: conversation))
            return
        }
        guard let target = socketAddress(for: to) else {
            handle(.streamFailed(conversation: conversation))
            return
        }
        let me = NIOLoopBound(self, eventLoop: loop)
        let timeout = TimeAmount(configuration.streamIdleTimeout)
        ClientBootstrap(group: loop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        StreamHandler(runtime: me.value, timeout: timeout, conversation: conversation))
                }
            }
            .connect(to: target)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    // The channel's handler reports the failed conversation as it is removed.
                    self.logger.debug(
                        "stream connection failed", metadata: ["gossip.peer.address": "\(to)", "gossip.error": "\(error)"])
                case .success(let channel):
                    channel.writeAndFlush(frame).assumeIsolated().whenFailure { error in
                        channel.close(promise: nil)
                        self.logger.debug(
                            "stream write failed", metadata: ["gossip.peer.address": "\(to)", "gossip.error": "\(error)"])
                    }
                }
            }
    }

    /// Writes the core's answer on the connection its request came in on, then closes it.
    private func sendReply(_ message: StreamMessage, conversation: ConversationID) {
        guard let channel = awaitingReply.removeValue(forKey: conversation) else { return }
        var frame = channel.allocator.buffer(capacity: 256)
        do {
            try streamCodec.encode(.stream(message), into: &frame)
        } catch {
            logger.debug("stream reply not sent", metadata: ["gossip.error": "\(error)"])
            channel.close(promise: nil)
            return
        }
        channel.writeAndFlush(frame).assumeIsolated().whenComplete { _ in channel.close(promise: nil) }
    }

    func streamFailed(_ conversation: ConversationID, to: Address?) {
        guard isActive else { return }
        metrics.pendingStreamFailures += 1
        logger.debug("stream conversation ended without a reply", metadata: ["gossip.peer.address": "\(to.map(\.description) ?? "?")"])
        handle(.streamFailed(conversation: conversation))
    }

    /// A new id for a connection this node accepted.
    func inboundConversation() -> ConversationID {
        defer { nextInbound += 1 }
        return .inbound(nextInbound)
    }

    func readFrame(_ buffer: inout ByteBuffer, from peer: Address?, conversation: ConversationID, channel: any Channel) -> FrameOutcome {
        guard isActive, let peer else { return .refused }
        do {
            switch try streamCodec.decode(&buffer) {
            case .needMoreData:
                return .needMoreData
            case .skipped(let type):
                logger.debug("skipped stream frame of unknown type", metadata: ["gossip.peer.address": "\(peer)", "gossip.type": "\(type)"])
                return .delivered
            case .item(.stream(let message)):
                streamMessagesIn += 1
                if conversation.isInbound { awaitingReply[conversation] = channel }
                handle(.stream(from: peer, message, conversation: conversation))
                // Handled without an answer: nothing more will come on this connection.
                if conversation.isInbound, awaitingReply.removeValue(forKey: conversation) != nil {
                    channel.close(promise: nil)
                }
                return .delivered
            case .item(.message(let message)):
                handle(.datagram(from: peer, messages: [message]))
                return .delivered
            }
        } catch {
            logger.debug(
                "refused stream frame", metadata: ["gossip.peer.address": "\(peer)", "gossip.reason": "\(error.reason.rawValue)"])
            return .refused
        }
    }

    func connectionOpened(_ channel: any Channel) {
        if phase == .stopping || phase == .stopped {
            channel.close(promise: nil)
            return
        }
        connections[ObjectIdentifier(channel)] = channel
    }

    /// `answered` tells an outbound conversation that got its reply from one that did not.
    func connectionClosed(_ channel: any Channel, conversation: ConversationID?, answered: Bool) {
        connections[ObjectIdentifier(channel)] = nil
        guard let conversation else { return }
        if conversation.isInbound {
            awaitingReply[conversation] = nil
        } else if !answered {
            streamFailed(conversation, to: channel.remoteAddress.flatMap(Address.init))
        }
    }

    // MARK: timers

    private func arm(_ id: TimerID, at: Instant) {
        schedule(at: .uptimeNanoseconds(UInt64(clamping: at.nanoseconds))) { $0.handle(.timer(id)) }
    }

    private func schedule(at deadline: NIODeadline, _ body: @escaping (NodeRuntime) -> Void) {
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
        let snapshot = Snapshot(
            incarnation: core.currentIncarnation, left: leftGracefully, members: core.knownMembers,
            excluding: core.name, limit: configuration.snapshotMaxMembers)
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

    func join(_ seeds: [Address], promise: EventLoopPromise<JoinOutcome>) {
        guard phase == .running else {
            promise.fail(GossipError.notRunning)
            return
        }
        joinWaiters.append(promise)
        logger.info("joining", metadata: ["gossip.seeds": "\(seeds.map(\.description).joined(separator: ","))"])
        handle(.join(seeds: seeds))
    }

    func setTags(_ tags: Tags) {
        handle(.setTags(tags))
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
            metrics.flush(core: core.counters, wire: wireCounters, health: core.localHealth)
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
