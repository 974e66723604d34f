import Foundation
import GrapevineTestSupport
import Gossip
import GossipCore
import GossipWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Raw sockets for hostile tests: packets and frames built with the real codec (plaintext),
/// sent from sockets that are no node, so that a test can say anything to a node and see
/// exactly what it answers. Everything here stays on 127.0.0.1 or [::1].

/// One received datagram.
struct ReceivedDatagram: Sendable {
    var bytes: Int
    var messages: [Message]
    var from: Address?
}

/// A UDP socket bound on loopback that records every datagram it receives.
final class UDPPeer: Sendable {
    let channel: any Channel
    let address: Address
    private let inbox: NIOLockedValueBox<[ReceivedDatagram]>
    private let signal: AsyncStream<Void>
    private let signalled: AsyncStream<Void>.Continuation

    private final class Recorder: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let inbox: NIOLockedValueBox<[ReceivedDatagram]>
        let signalled: AsyncStream<Void>.Continuation
        init(inbox: NIOLockedValueBox<[ReceivedDatagram]>, signalled: AsyncStream<Void>.Continuation) {
            self.inbox = inbox
            self.signalled = signalled
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            var packet = envelope.data
            let bytes = packet.readableBytes
            var messages: [Message] = []
            var codec = PacketCodec(keyring: nil)
            _ = codec.decode(&packet, into: &messages)
            let from = coreAddress(envelope.remoteAddress)
            inbox.withLockedValue { $0.append(ReceivedDatagram(bytes: bytes, messages: messages, from: from)) }
            signalled.yield()
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {}
    }

    private init(
        channel: any Channel, address: Address, inbox: NIOLockedValueBox<[ReceivedDatagram]>, signal: AsyncStream<Void>,
        signalled: AsyncStream<Void>.Continuation
    ) {
        self.channel = channel
        self.address = address
        self.inbox = inbox
        self.signal = signal
        self.signalled = signalled
    }

    /// Binds a fresh socket on a loopback address of its own (`freshLoopbackIPv4`), or on
    /// `host`, port chosen by the kernel.
    static func bind(host: String? = nil) async throws -> UDPPeer {
        let inbox = NIOLockedValueBox<[ReceivedDatagram]>([])
        let (signal, signalled) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_536))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Recorder(inbox: inbox, signalled: signalled))
                }
            }
            .bind(host: host ?? dottedQuad(freshLoopbackIPv4()), port: 0).get()
        guard let local = channel.localAddress, let address = coreAddress(local) else {
            try? await channel.close()
            throw TimedOut(description: "attacker socket has no local address")
        }
        return UDPPeer(channel: channel, address: address, inbox: inbox, signal: signal, signalled: signalled)
    }

    /// Encodes `messages` as one plaintext datagram (no budget but the receiver's buffer) and
    /// sends it to `to`; returns the datagram's size in bytes.
    @discardableResult
    func send(_ messages: [Message], to: Address, budget: Int = 2048) async throws -> Int {
        var buffer = channel.allocator.buffer(capacity: budget)
        try PacketCodec(keyring: nil).encode(messages, into: &buffer, budget: budget)
        let size = buffer.readableBytes
        try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: try socketAddress(to), data: buffer))
        return size
    }

    /// Everything received so far, in order.
    var received: [ReceivedDatagram] { inbox.withLockedValue { $0 } }

    /// Waits (bounded) until the received datagrams satisfy `condition`.
    func waitUntil(within timeout: Duration = .seconds(5), _ condition: @escaping @Sendable ([ReceivedDatagram]) -> Bool)
        async -> Bool
    {
        let inbox = self.inbox
        let signal = self.signal
        return await firstTrue(within: timeout) {
            if inbox.withLockedValue({ condition($0) }) { return true }
            for await _ in signal where inbox.withLockedValue({ condition($0) }) { return true }
            return false
        }
    }

    /// Sends a well-formed ping naming this socket as its source and waits, bounded, for the
    /// ack. Returns the index of the datagram carrying it in `received`, or nil if none came.
    /// Replies to anything sent earlier from the same node come before it: the node answers in
    /// order on one event loop, and loopback keeps the order.
    func ping(_ node: Address, named target: String, sequence: UInt32, within timeout: Duration = .seconds(5)) async throws
        -> Int?
    {
        try await send(
            [.ping(Ping(sequence: sequence, target: target, source: "prober", sourceAddress: address))], to: node)
        let acked = await waitUntil(within: timeout) { datagrams in
            datagrams.contains { $0.messages.contains(.ack(Ack(sequence: sequence))) }
        }
        guard acked else { return nil }
        return received.firstIndex { $0.messages.contains(.ack(Ack(sequence: sequence))) }
    }

    func close() async {
        try? await channel.close()
        signalled.finish()
    }
}

/// Opens a TCP connection to `to` and writes `bytes` on it; returns the channel (the caller
/// closes it). The write completes once the peer's kernel took the bytes, or fails when the
/// peer closed the connection.
func tcpConnect(to: Address) async throws -> any Channel {
    try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connectTimeout(.seconds(3))
        .connect(to: try socketAddress(to)).get()
}

/// One plaintext stream frame holding `message`, as a node would send it.
func streamFrame(_ message: StreamMessage, maxFrameSize: Int = StreamCodec.defaultMaxFrameSize) throws -> ByteBuffer {
    var buffer = ByteBuffer()
    try StreamCodec(keyring: nil, maxFrameSize: maxFrameSize).encode(.stream(message), into: &buffer)
    return buffer
}

/// Sends one stream frame on a fresh connection and closes it once written.
func sendFrame(_ frame: ByteBuffer, to: Address) async throws {
    let channel = try await tcpConnect(to: to)
    defer { channel.close(promise: nil) }
    try await channel.writeAndFlush(frame)
}

/// `a` (host byte order) as "127.1.0.1".
func dottedQuad(_ a: UInt32) -> String {
    "\(a >> 24).\(a >> 16 & 0xff).\(a >> 8 & 0xff).\(a & 0xff)"
}

/// An address inside 127/8 that nothing listens on: fake members point there, so whatever a
/// node sends them stays on loopback and reaches no other test's sockets.
func unusedLoopback(_ i: Int, port: UInt16 = 9) -> Address {
    Address(ipv4: 0x7f42_0000 | UInt32(truncatingIfNeeded: i & 0xffff), port: port)
}

func socketAddress(_ a: Address) throws -> SocketAddress {
    var packed = ByteBuffer()
    packed.writeBytes(a.bytes)
    return try SocketAddress(packedIPAddress: packed, port: Int(a.port))
}

func coreAddress(_ s: SocketAddress) -> Address? {
    guard let port = s.port else { return nil }
    switch s {
    case .v4(let a): return Address(ipv4: UInt32(bigEndian: a.address.sin_addr.s_addr), port: UInt16(port))
    case .v6(let a):
        var raw = a.address.sin6_addr
        return withUnsafeBytes(of: &raw) { Address(bytes: $0, port: UInt16(port)) }
    case .unixDomainSocket: return nil
    }
}

// MARK: observing a node from outside

/// The UDP ports bound in this network namespace (or in `namespace`), from `ss -uln`.
func boundUDPPorts(namespace: String? = nil) throws -> Set<UInt16> {
    let args = (namespace.map { ["ip", "netns", "exec", $0] } ?? []) + ["ss", "-H", "-uln"]
    let text = try run(args)
    var ports = Set<UInt16>()
    for line in text.split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        // State Recv-Q Send-Q Local:Port Peer:Port
        guard fields.count >= 4, let colon = fields[3].lastIndex(of: ":") else { continue }
        if let p = UInt16(fields[3][fields[3].index(after: colon)...]) { ports.insert(p) }
    }
    return ports
}

/// `VmRSS` or `VmHWM` of a process in bytes, from /proc/PID/status.
func processMemory(_ pid: Int32, field: String = "VmRSS") -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
    }
    return nil
}

/// Waits until every node has run `count` more probes than it had: a window measured in
/// protocol periods rather than in seconds.
func waitForProbes(_ nodes: [GossipNode], _ count: Int, timeout: Duration = .seconds(60)) async throws {
    var start: [Int] = []
    for n in nodes { start.append(await n.statistics().core.probes) }
    for (n, s) in zip(nodes, start) {
        try await waitForStatistics(n, "\(count) more probes", timeout: timeout) { $0.core.probes >= s + count }
    }
}

/// Collects every membership event of a node from now on, for checks over a window.
final class EventLog: Sendable {
    private let events = NIOLockedValueBox<[MembershipEvent]>([])
    private let task: NIOLockedValueBox<Task<Void, Never>?> = NIOLockedValueBox(nil)

    init(_ node: GossipNode) async {
        let stream = await node.events()
        let events = self.events
        task.withLockedValue {
            $0 = Task {
                for await update in stream {
                    guard case .event(let e) = update else {
                        Issue.record("events lost: the log would be incomplete")
                        continue
                    }
                    events.withLockedValue { $0.append(e) }
                }
            }
        }
    }

    /// One log per node, in order.
    static func of(_ nodes: [GossipNode]) async -> [EventLog] {
        var logs: [EventLog] = []
        for node in nodes { logs.append(await EventLog(node)) }
        return logs
    }

    var all: [MembershipEvent] { events.withLockedValue { $0 } }

    func kinds(of name: String) -> [MembershipEvent.Kind] { all.filter { $0.member.name == name }.map(\.kind) }

    func stop() { task.withLockedValue { $0?.cancel() } }
}
