import Addresses
import DNS
import GossipCore
import Logging
import Metrics
import NIOCore
import NIOPosix
import Synchronization

/// The overlay's DNS server: answers the names of `NameTable` over UDP, and passes every other
/// query to the host's upstream resolvers (`Upstreams`), relaying the first answer back.
///
/// dockerd's embedded resolver (127.0.0.11 in each container) answers its own host's names
/// and forwards the rest to the daemon's `dns` servers from inside the container's network
/// namespace (Docs/DOCKER.md, "Names across hosts"): that is how a query reaches this server,
/// with the container's overlay address as its source, which picks the network whose names
/// it may see.
///
/// Forwarding adds no timeout of its own: the query goes at once to every upstream, the first
/// answer is relayed and the others dropped, and the asker's own retries decide how long to
/// wait. A forwarded query is remembered `forwardLifetime` at most (a bound on memory, not on
/// latency); past `maxPending` in flight, a query is answered SERVFAIL at once.
final class NameServer: Sendable {
    struct Settings: Sendable {
        /// Where queries come in (`dns_address`, port 53 unless given).
        var listen: SocketAddress
        /// The host's resolvers (`Upstreams.parse`), at most 3.
        var upstreams: [SocketAddress]
        var forwardLifetime: TimeAmount = .seconds(10)
        var maxPending = 4_096
    }

    private struct Pending {
        var client: SocketAddress
        var id: UInt16
        var expires: NIODeadline
    }

    private struct State {
        var table = NameTable()
        var rotation = 0
        var pending: [UInt16: Pending] = [:]
        var server: (any Channel)?
        var upstream: (any Channel)?
        var conflicts: Set<NameTable.Conflict> = []
        var generator = SystemRandomNumberGenerator()
        var bridges: [String: [BridgeAddress]] = [:]
    }

    let settings: Settings
    /// Wakes the agent's rebuild of the table; a burst of replica changes (a join's state
    /// exchange) coalesces into one rebuild.
    let rebuilds: AsyncStream<Void>
    let rebuildWanted: AsyncStream<Void>.Continuation
    private let logger: Logger
    private let state = Mutex(State())
    private let counters: NameCounters

    init(settings: Settings, logger: Logger, metrics: any MetricsFactory) {
        self.settings = settings
        self.logger = logger
        self.counters = NameCounters(factory: metrics)
        (rebuilds, rebuildWanted) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Replaces the names answered; logs each container name newly held by two endpoints.
    func update(_ table: NameTable) {
        let (added, total) = state.withLock { s -> ([NameTable.Conflict], Int) in
            s.table = table
            let now = Set(table.conflicts)
            let added = now.subtracting(s.conflicts)
            s.conflicts = now
            return (added.sorted { ($0.network, $0.name) < ($1.network, $1.name) }, now.count)
        }
        counters.conflicts.record(total)
        for c in added {
            counters.conflictsSeen.increment()
            logger.warning("a container name is held by several containers; the oldest is answered", metadata: [
                "dns.name": "\(Limits.escaped(c.name))", "network.vni": "\(c.network)",
                "dns.answered": "\(Limits.escaped(c.winner.owner))/\(c.winner.mac)",
                "dns.not_answered": "\(c.losers.map { "\(Limits.escaped($0.owner))/\($0.mac)" }.joined(separator: ","))",
            ])
        }
    }

    var table: NameTable { state.withLock { $0.table } }

    /// Records the bridge addresses wanted; true when they differ from the last ones.
    func bridgesChanged(_ wanted: [String: [BridgeAddress]]) -> Bool {
        state.withLock { s in
            defer { s.bridges = wanted }
            return s.bridges != wanted
        }
    }

    /// The address the server is bound to (its port when `listen` gave 0), once `run` has bound.
    var boundAddress: SocketAddress? { state.withLock { $0.server?.localAddress } }

    /// Binds, calls `onListening`, serves until the task is cancelled, then closes.
    /// - Throws: the bind's error (an address not on this host, port 53 taken, no privilege).
    func run(onListening: @Sendable () -> Void = {}) async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let server = try await DatagramBootstrap(group: loop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            // IP_FREEBIND (Linux): the address may be bound before any interface carries it
            // (the bridges that will are made as networks arrive).
            .channelOption(ChannelOptions.Types.SocketOption(level: .ip, name: .init(rawValue: 15)), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(QueryHandler(server: self))
                }
            }
            .bind(to: settings.listen).get()
        let anyV6 = settings.upstreams.contains { $0.protocol == .inet6 }
        let upstream: any Channel
        do {
            upstream = try await DatagramBootstrap(group: loop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(UpstreamHandler(server: self))
                    }
                }
                .bind(host: anyV6 ? "::" : "0.0.0.0", port: 0).get()
        } catch {
            try? await server.close()
            throw error
        }
        state.withLock {
            $0.server = server
            $0.upstream = upstream
        }
        logger.info("name service listening", metadata: [
            "dns.address": "\(server.localAddress.map { "\($0)" } ?? "?")",
            "dns.upstreams": "\(settings.upstreams.map { "\($0)" }.joined(separator: ","))",
        ])
        onListening()
        await withTaskCancellationHandler {
            try? await server.closeFuture.get()
        } onCancel: {
            server.close(promise: nil)
        }
        try? await upstream.close()
        state.withLock {
            $0.server = nil
            $0.upstream = nil
            $0.pending = [:]
        }
    }

    // MARK: the datagram path (on the channels' event loop)

    fileprivate func query(_ envelope: AddressedEnvelope<ByteBuffer>, on channel: any Channel) {
        let source = envelope.remoteAddress.ipAddress.flatMap(IPAddress.init)
        let (table, rotation) = state.withLock { s -> (NameTable, Int) in
            s.rotation &+= 1
            return (s.table, s.rotation)
        }
        let decision = source.map { NameResponder.decide(envelope.data, from: $0, table: table, rotation: rotation) }
            ?? .forward
        switch decision {
        case .answer(let bytes, let outcome):
            counters.query(outcome.rawValue)
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: bytes), promise: nil)
        case .drop(let reason):
            counters.dropped(reason)
        case .forward:
            forward(envelope, answeringOn: channel)
        }
    }

    private func forward(_ envelope: AddressedEnvelope<ByteBuffer>, answeringOn channel: any Channel) {
        guard let header = DNSMessage.header(of: envelope.data) else { return }
        let now = NIODeadline.now()
        let taken: (UInt16, (any Channel)?)? = state.withLock { s in
            if s.pending.count >= settings.maxPending { s.pending = s.pending.filter { $0.value.expires > now } }
            guard s.pending.count < settings.maxPending, !settings.upstreams.isEmpty else { return nil }
            var id = UInt16.random(in: .min ... .max, using: &s.generator)
            while s.pending[id] != nil { id &+= 1 }
            s.pending[id] = Pending(client: envelope.remoteAddress, id: header.id, expires: now + settings.forwardLifetime)
            return (id, s.upstream)
        }
        guard let (id, upstreamChannel) = taken, let upstreamChannel else {
            counters.query("forward_refused")
            channel.writeAndFlush(AddressedEnvelope(
                remoteAddress: envelope.remoteAddress,
                data: NameResponder.reply(id: header.id, query: header.flags, code: DNSResponseCode.serverFailure)), promise: nil)
            return
        }
        counters.query("forwarded")
        var bytes = envelope.data
        bytes.setInteger(id, at: bytes.readerIndex)
        for upstream in settings.upstreams {
            upstreamChannel.write(AddressedEnvelope(remoteAddress: upstream, data: bytes), promise: nil)
        }
        upstreamChannel.flush()
    }

    fileprivate func upstreamAnswer(_ envelope: AddressedEnvelope<ByteBuffer>) {
        // Only the upstreams' answers are relayed: anyone else on the host guessing an ID
        // would otherwise answer for them.
        guard settings.upstreams.contains(envelope.remoteAddress),
              let header = DNSMessage.header(of: envelope.data), header.flags.response else {
            counters.dropped("stray_upstream")
            return
        }
        let now = NIODeadline.now()
        let found: (Pending, (any Channel)?)? = state.withLock { s in
            guard let p = s.pending.removeValue(forKey: header.id), p.expires > now else { return nil }
            return (p, s.server)
        }
        // A second upstream's answer to a query already answered, or one past its lifetime.
        guard let (pending, server) = found, let server else { return }
        var bytes = envelope.data
        bytes.setInteger(pending.id, at: bytes.readerIndex)
        server.writeAndFlush(AddressedEnvelope(remoteAddress: pending.client, data: bytes), promise: nil)
    }
}

private final class QueryHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let server: NameServer
    init(server: NameServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        server.query(unwrapInboundIn(data), on: context.channel)
    }

    /// A send error (an asker gone) must not close the socket every container uses.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {}
}

private final class UpstreamHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let server: NameServer
    init(server: NameServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        server.upstreamAnswer(unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {}
}

/// `grapevine_dns_*` metrics.
struct NameCounters: Sendable {
    let factory: any MetricsFactory
    let conflicts: Gauge
    let conflictsSeen: Counter

    init(factory: any MetricsFactory) {
        self.factory = factory
        conflicts = Gauge(label: "grapevine_dns_name_conflicts", dimensions: [], factory: factory)
        conflictsSeen = Counter(label: "grapevine_dns_name_conflicts_seen_total", dimensions: [], factory: factory)
    }

    /// By outcome: found, no_data, forwarded, forward_refused, malformed, not_implemented.
    func query(_ outcome: String) {
        Counter(label: "grapevine_dns_queries_total", dimensions: [("outcome", outcome)], factory: factory).increment()
    }

    /// Datagrams not answered, by reason: short, response, stray_upstream.
    func dropped(_ reason: String) {
        Counter(label: "grapevine_dns_dropped_total", dimensions: [("reason", reason)], factory: factory).increment()
    }
}
