import Addresses
import DNS
import Gossip
import Logging
import Metrics
import NIOCore
import NIOPosix
import Synchronization

/// The overlay's DNS server: answers the names of `NameTable` over UDP and TCP (same address
/// and port), and passes every other query to the host's upstream resolvers (`Upstreams`),
/// relaying the first answer back.
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
///
/// TCP (RFC 7766) is there for answers too large for a datagram: a UDP answer that does not
/// fit is cut with TC set, and the asker (dockerd's resolver passes TC on) asks again over TCP.
/// Connections are bounded: `maxConnections` at once (one more is closed at once), each closed
/// after `tcpIdle` without a query, and a query longer than `maxQueryBytes` closes its
/// connection. A query forwarded from TCP goes upstream over UDP like any other; its answer
/// comes back on the connection as the upstream gave it (TC set if the upstream cut it).
final class NameServer: Sendable {
    struct Settings: Sendable {
        /// Where queries come in (`dns_address`, port 53 unless given).
        var listen: SocketAddress
        /// The host's resolvers (`Upstreams.parse`), at most 3.
        var upstreams: [SocketAddress]
        var forwardLifetime: TimeAmount = .seconds(10)
        var maxPending = 4_096
        /// TCP connections open at once; one more is closed at once.
        var maxConnections = 64
        /// A TCP connection without a query this long is closed (RFC 7766 §6.2.3).
        var tcpIdle: TimeAmount = .seconds(10)
        /// The longest query taken over TCP (a question with EDNS is well under 300 bytes);
        /// a longer one closes its connection.
        var maxQueryBytes = 1_232
    }

    /// Where an answer goes back to.
    enum Asker: Sendable {
        case datagram(SocketAddress)
        case stream(any Channel)
    }

    private struct Pending {
        var client: Asker
        var id: UInt16
        var expires: NIODeadline
    }

    private struct State {
        var table = NameTable()
        var rotation = 0
        var pending: [UInt16: Pending] = [:]
        var server: (any Channel)?
        var stream: (any Channel)?
        var connections = 0
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
        let stream: any Channel
        do {
            // The port the datagram socket got (the same as `listen`'s unless that gave 0).
            stream = try await ServerBootstrap(group: loop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(ChannelOptions.Types.SocketOption(level: .ip, name: .init(rawValue: 15)), value: 1)
                .serverChannelOption(.backlog, value: 64)
                .childChannelInitializer { channel in
                    guard self.admit(channel) else {
                        self.counters.dropped("tcp_connections")
                        return channel.close()
                    }
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(StreamFrameDecoder(limit: self.settings.maxQueryBytes)))
                        try channel.pipeline.syncOperations.addHandler(StreamQueryHandler(server: self, idle: self.settings.tcpIdle))
                    }
                }
                .bind(to: server.localAddress ?? settings.listen).get()
        } catch {
            try? await server.close()
            throw error
        }
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
            try? await stream.close()
            throw error
        }
        state.withLock {
            $0.server = server
            $0.stream = stream
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
        try? await stream.close()
        state.withLock {
            $0.server = nil
            $0.stream = nil
            $0.upstream = nil
            $0.pending = [:]
        }
    }

    /// Counts a new TCP connection in, and out when it closes; false (and not counted) past
    /// `maxConnections`.
    private func admit(_ channel: any Channel) -> Bool {
        let admitted = state.withLock { s in
            guard s.connections < settings.maxConnections else { return false }
            s.connections += 1
            return true
        }
        if admitted {
            counters.tcpConnections.increment()
            channel.closeFuture.whenComplete { _ in self.state.withLock { $0.connections -= 1 } }
        }
        return admitted
    }

    /// TCP connections open now.
    var connections: Int { state.withLock { $0.connections } }

    // MARK: the datagram path (on the channels' event loop)

    fileprivate func query(_ envelope: AddressedEnvelope<ByteBuffer>, on channel: any Channel) {
        query(envelope.data, from: envelope.remoteAddress, asker: .datagram(envelope.remoteAddress), transport: .udp, on: channel)
    }

    /// One query, from a datagram or a TCP connection (`asker`); `channel` is where an answer
    /// to a datagram goes (the server socket).
    fileprivate func query(_ data: ByteBuffer, from address: SocketAddress?, asker: Asker, transport: NameTransport,
                           on channel: any Channel) {
        let source = address?.ipAddress.flatMap(IPAddress.init)
        let (table, rotation) = state.withLock { s -> (NameTable, Int) in
            s.rotation &+= 1
            return (s.table, s.rotation)
        }
        let decision = source.map { NameResponder.decide(data, from: $0, table: table, rotation: rotation, over: transport) }
            ?? .forward
        switch decision {
        case .answer(let bytes, let outcome):
            counters.query(outcome.rawValue)
            send(bytes, to: asker, on: channel)
        case .drop(let reason):
            counters.dropped(reason)
        case .forward:
            forward(data, for: asker, answeringOn: channel)
        }
    }

    /// A datagram to its sender, or a message framed with its length (RFC 1035 §4.2.2) on its
    /// TCP connection.
    private func send(_ bytes: ByteBuffer, to asker: Asker, on channel: (any Channel)?) {
        switch asker {
        case .datagram(let address):
            channel?.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: bytes), promise: nil)
        case .stream(let connection):
            guard bytes.readableBytes <= Int(UInt16.max) else { return }
            var framed = ByteBuffer()
            framed.reserveCapacity(2 + bytes.readableBytes)
            framed.writeInteger(UInt16(bytes.readableBytes))
            framed.writeImmutableBuffer(bytes)
            connection.writeAndFlush(framed, promise: nil)
        }
    }

    private func forward(_ data: ByteBuffer, for asker: Asker, answeringOn channel: any Channel) {
        guard let header = DNSMessage.header(of: data) else { return }
        let now = NIODeadline.now()
        let taken: (UInt16, (any Channel)?)? = state.withLock { s in
            if s.pending.count >= settings.maxPending { s.pending = s.pending.filter { $0.value.expires > now } }
            guard s.pending.count < settings.maxPending, !settings.upstreams.isEmpty else { return nil }
            var id = UInt16.random(in: .min ... .max, using: &s.generator)
            while s.pending[id] != nil { id &+= 1 }
            s.pending[id] = Pending(client: asker, id: header.id, expires: now + settings.forwardLifetime)
            return (id, s.upstream)
        }
        guard let (id, upstreamChannel) = taken, let upstreamChannel else {
            counters.query("forward_refused")
            send(NameResponder.reply(id: header.id, query: header.flags, code: DNSResponseCode.serverFailure), to: asker, on: channel)
            return
        }
        counters.query("forwarded")
        var bytes = data
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
        send(bytes, to: pending.client, on: server)
    }
}

/// Cuts a TCP stream into DNS messages, each after its two-byte length (RFC 1035 §4.2.2); a
/// length over `limit` is an error, which closes the connection.
struct StreamFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    struct TooLong: Error {}
    let limit: Int

    /// The next whole message at the front of `buffer` (consumed), or nil (nothing consumed)
    /// while it has not all arrived.
    /// - Throws: `TooLong` when its length prefix is over `limit`.
    static func nextMessage(_ buffer: inout ByteBuffer, limit: Int) throws(TooLong) -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) else { return nil }
        guard Int(length) <= limit else { throw TooLong() }
        guard buffer.readableBytes >= 2 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 2)
        return buffer.readSlice(length: Int(length))
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let message = try Self.nextMessage(&buffer, limit: limit) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        .needMoreData
    }
}

/// One TCP connection's queries; closes the connection after `idle` without one, and on any
/// error (a query too long, a reset).
private final class StreamQueryHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let server: NameServer
    let idle: TimeAmount
    private var timer: Scheduled<Void>?

    init(server: NameServer, idle: TimeAmount) {
        self.server = server
        self.idle = idle
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        arm(context)
        let channel = context.channel
        server.query(unwrapInboundIn(data), from: channel.remoteAddress, asker: .stream(channel), transport: .tcp, on: channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is StreamFrameDecoder.TooLong { server.tooLong() }
        context.close(promise: nil)
    }

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: idle) { channel.close(promise: nil) }
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
    /// TCP connections taken (`grapevine_dns_tcp_connections_total`).
    let tcpConnections: Counter

    init(factory: any MetricsFactory) {
        self.factory = factory
        conflicts = Gauge(label: "grapevine_dns_name_conflicts", dimensions: [], factory: factory)
        conflictsSeen = Counter(label: "grapevine_dns_name_conflicts_seen_total", dimensions: [], factory: factory)
        tcpConnections = Counter(label: "grapevine_dns_tcp_connections_total", dimensions: [], factory: factory)
    }

    /// By outcome: found, no_data, forwarded, forward_refused, malformed, not_implemented.
    func query(_ outcome: String) {
        Counter(label: "grapevine_dns_queries_total", dimensions: [("outcome", outcome)], factory: factory).increment()
    }

    /// Queries not answered, by reason: short, response, stray_upstream, tcp_connections (a
    /// connection past the limit, closed), tcp_too_long (a query over the size limit).
    func dropped(_ reason: String) {
        Counter(label: "grapevine_dns_dropped_total", dimensions: [("reason", reason)], factory: factory).increment()
    }
}

extension NameServer {
    fileprivate func tooLong() { counters.dropped("tcp_too_long") }
}
