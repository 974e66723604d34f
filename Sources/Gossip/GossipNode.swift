import GossipCore
import GossipWire
import NIOCore
import NIOPosix
public import ServiceLifecycle

/// A member of a gossip cluster: SWIM with Lifeguard over UDP (probes, gossip) and TCP (joins,
/// push/pull) on one port, on one event loop.
///
/// Create it, `start()` it (or run it in a `ServiceGroup`), `join` some seeds, watch `members`
/// and `events()`, and `leave()` when done. A node runs once: to restart, create a new one (with
/// the same snapshot path, it finds its cluster again by itself).
public final class GossipNode: Service, Sendable {
    public let configuration: GossipConfiguration
    public var name: String { configuration.name }

    private let loop: any EventLoop
    private let runtime: NIOLoopBoundBox<NodeRuntime>
    private let view: MembershipView

    public init(configuration: GossipConfiguration) throws {
        var settings = configuration.settings
        settings.packetOverhead = PacketHeader.overhead(sealed: configuration.keyring != nil, label: configuration.label)
        let bind = configuration.bindAddress
        let wildcard = bind.high == 0 && bind.low == 0
        if wildcard && configuration.advertiseAddress == nil {
            throw GossipError.invalidConfiguration("binding \(bind) needs an advertiseAddress other members can reach")
        }
        try configuration.validate()
        do { try WireLimits.validate(configuration.tags) } catch {
            throw GossipError.tagsTooLarge
        }
        // Checks settings and name now; the core that runs is rebuilt once the port is known.
        let core = try GossipInstance(
            name: configuration.name, address: configuration.advertiseAddress ?? bind, tags: configuration.tags,
            settings: settings, seed: 0)
        self.configuration = configuration
        // NIO's shared group by default (its guidance for libraries): its loops outlive every
        // node, so each call still has a loop to answer on after the node has stopped.
        loop = (configuration.eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton).next()
        let view = MembershipView()
        self.view = view
        runtime = NIOLoopBoundBox.makeBoxSendingValue(
            NodeRuntime(configuration: configuration, settings: settings, core: core, loop: loop, view: view),
            eventLoop: loop)
    }

    // MARK: lifecycle

    /// Binds the sockets and starts probing; rejoins the members of the snapshot, if any.
    public func start() async throws {
        let runtime = self.runtime
        try await loop.flatSubmit { runtime.value.start() }.get()
    }

    /// Joins the cluster through these seeds; returns how many answered. Retries with backoff
    /// happen inside (`Settings.joinRetryInterval`, `joinMaxAttempts`). Throws
    /// `GossipError.joinFailed` with what happened per seed when none answered, and
    /// `GossipError.nameConflict` when the cluster has a live member with this node's name.
    @discardableResult
    public func join(_ seeds: [Address]) async throws(GossipError) -> Int {
        let promise = loop.makePromise(of: Int.self)
        let runtime = self.runtime
        loop.execute { runtime.value.join(seeds, promise: promise) }
        do {
            return try await promise.futureResult.get()
        } catch let error as GossipError {
            throw error
        } catch {
            throw .joinFailed(seeds: seeds.map { SeedFailure(seed: $0, reason: .connectionFailed("\(error)")) })
        }
    }

    /// Leaves gracefully: the cluster sees "left", not "failed". Returns once the departure has
    /// been gossiped and every socket is closed.
    public func leave() async {
        let runtime = self.runtime
        loop.execute { runtime.value.beginLeave() }
        await waitUntilStopped()
    }

    /// Stops at once, without a goodbye: the cluster will declare this node failed. For tests
    /// and crashes in all but name; daemons should `leave()`.
    public func stop() async {
        let runtime = self.runtime
        loop.execute { runtime.value.stop() }
        await waitUntilStopped()
    }

    /// Runs until graceful shutdown (SIGTERM through a `ServiceGroup`), then leaves; on
    /// cancellation it stops without leaving.
    public func run() async throws {
        let runtime = self.runtime
        let loop = self.loop
        let phase = try await loop.submit { runtime.value.phase }.get()
        if phase == .idle { try await start() }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await self.waitUntilStopped()
            } onGracefulShutdown: {
                loop.execute { runtime.value.beginLeave() }
            }
        } onCancel: {
            loop.execute { runtime.value.stop() }
        }
    }

    private func waitUntilStopped() async {
        let promise = loop.makePromise(of: Void.self)
        let runtime = self.runtime
        loop.execute { runtime.value.whenStopped(promise) }
        try? await promise.futureResult.get()
    }

    // MARK: state

    /// Every member this node knows, itself included, with status, tags and address.
    public var members: [Member] { view.members }

    /// This node's own entry, once started: its advertised address (with the port the system
    /// picked for port 0), incarnation, status and tags. Nil before `start()`.
    public var localMember: Member? { view.members.first { $0.name == configuration.name } }

    /// Membership changes as they happen. A new sequence starts with every live member as
    /// `joined`, then follows changes; it ends when the node stops. Each call is an independent
    /// subscriber; a subscriber that falls more than `buffer` events behind loses the oldest.
    public func events(buffer: Int = 65_536) -> AsyncStream<MembershipEvent> {
        view.subscribe(buffer: buffer)
    }

    /// Replaces this node's tags and gossips them; returns once the node has taken them (its
    /// own entry in `members` shows them, and the announcement is on its way). Throws
    /// `tagsTooLarge` for tags no peer would accept (see `WireLimits`), and `notRunning` unless
    /// the node is running (before `start`, while leaving, after it stopped).
    public func setTags(_ tags: Tags) async throws(GossipError) {
        do { try WireLimits.validate(tags) } catch {
            throw .tagsTooLarge
        }
        let runtime = self.runtime
        let applied = (try? await loop.submit { runtime.value.setTags(tags) }.get()) ?? false
        if !applied { throw .notRunning }
    }

    /// Counters for tests and diagnostics (metrics carry the same numbers).
    public func statistics() async throws -> NodeStatistics {
        let runtime = self.runtime
        return try await loop.submit {
            let r = runtime.value
            return NodeStatistics(
                address: r.core.address, core: r.core.counters, wire: r.wireCounters, localHealth: r.core.localHealth,
                incarnation: r.core.currentIncarnation, udpAcks: r.udpAcks, streamMessagesIn: r.streamMessagesIn,
                packetsIn: r.packetsIn, packetsOut: r.packetsOut, transport: r.transportSnapshot)
        }.get()
    }
}

extension GossipNode {
    /// Tests only: writes one datagram to `address` without the destination checks (the
    /// kernel's own error then reaches the transport) and returns once it was written or failed.
    func sendUncheckedDatagram(_ messages: [Message], to address: Address) async throws {
        let runtime = self.runtime
        try await loop.submit {
            runtime.value.sendDatagram(messages, to: address, checked: false)
            runtime.value.flushDatagrams()
        }.get()
    }
}

/// A node's counters at one moment.
public struct NodeStatistics: Sendable, Equatable {
    /// The advertised address (with the port actually bound).
    public var address: Address
    public var core: Counters
    /// What the packet and stream decoders accepted and refused, by reason.
    public var wire: WireCounters
    public var localHealth: Int
    public var incarnation: UInt64
    /// Datagrams that carried an ack: zero while others answer over TCP means UDP is blocked.
    public var udpAcks: Int
    public var streamMessagesIn: Int
    public var packetsIn: Int
    public var packetsOut: Int
    /// What the UDP socket and the TCP connections ran into.
    public var transport: TransportCounters

    /// Datagram writes that failed, all reasons.
    public var udpSendErrors: Int { transport.udpSendErrors.values.reduce(0, +) }
    /// Datagrams not written because the destination is unusable, all reasons.
    public var udpSendsRefused: Int { transport.udpSendsRefused.values.reduce(0, +) }
    /// Times the UDP socket closed under the node and was bound again.
    public var udpRebinds: Int { transport.udpRebinds }
}

/// Counters of the transport, by reason. The reason strings are the metric labels
/// (`gossip_udp_send_errors_total{reason}`, `gossip_udp_sends_refused_total{reason}`,
/// `gossip_stream_refused_total{reason}`).
public struct TransportCounters: Sendable, Equatable {
    /// Failed datagram writes: `host_unreachable`, `network_unreachable`, `not_permitted`,
    /// `address_unusable`, `message_too_large`, `no_buffers`, `connection_refused`,
    /// `socket_closed` (lost with a socket another write closed), `other`.
    public var udpSendErrors: [String: Int] = [:]
    /// Datagrams refused before writing: `wrong_family`, `port_zero`, `unspecified`,
    /// `broadcast`, `multicast`, `reserved`, `not_loopback`, `link_local`, `recently_failed`.
    public var udpSendsRefused: [String: Int] = [:]
    public var udpRebinds = 0
    /// TCP connections refused or closed by a limit: `connection_limit`, `host_connection_limit`,
    /// `buffer_limit`, `host_buffer_limit`, `frame_too_large`, `first_frame_timeout`,
    /// `idle_timeout`, `lifetime`.
    public var streamsRefused: [String: Int] = [:]
    /// Inbound TCP connections open now.
    public var inboundConnections = 0
    /// Bytes reserved by TCP connections now.
    public var streamBufferedBytes = 0
    /// Whether the node currently believes UDP is blocked while TCP works.
    public var udpSuspectedBlocked = false

    public init() {}
}
