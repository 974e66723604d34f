import GossipCore
import GossipWire
import NIOConcurrencyHelpers
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

    private let group: any EventLoopGroup
    private let ownsGroup: Bool
    private let loop: any EventLoop
    private let runtime: NIOLoopBoundBox<NodeRuntime>
    private let view: MembershipView
    private let released = NIOLockedValueBox(false)

    public init(configuration: GossipConfiguration) throws {
        var settings = configuration.settings
        settings.packetOverhead = PacketHeader.overhead(sealed: configuration.keyring != nil, label: configuration.label)
        let bind = configuration.bindAddress
        let wildcard = bind.high == 0 && bind.low == 0
        if wildcard && configuration.advertiseAddress == nil {
            throw GossipError.invalidConfiguration("binding \(bind) needs an advertiseAddress other members can reach")
        }
        if configuration.snapshotMaxMembers < 0 || configuration.udpSilenceWarningProbes < 1 {
            throw GossipError.invalidConfiguration("snapshotMaxMembers must be >= 0 and udpSilenceWarningProbes >= 1")
        }
        do { try WireLimits.validate(configuration.tags) } catch {
            throw GossipError.tagsTooLarge
        }
        // Checks settings and name now; the core that runs is rebuilt once the port is known.
        let core = try GossipInstance(
            name: configuration.name, address: configuration.advertiseAddress ?? bind, tags: configuration.tags,
            settings: settings, seed: 0)
        self.configuration = configuration
        if let shared = configuration.eventLoopGroup {
            group = shared
            ownsGroup = false
        } else {
            group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            ownsGroup = true
        }
        loop = group.next()
        let view = MembershipView()
        self.view = view
        runtime = NIOLoopBoundBox.makeBoxSendingValue(
            NodeRuntime(configuration: configuration, settings: settings, core: core, loop: loop, view: view),
            eventLoop: loop)
    }

    deinit {
        if ownsGroup && !released.withLockedValue({ $0 }) {
            group.shutdownGracefully { _ in }
        }
    }

    // MARK: lifecycle

    /// Binds the sockets and starts probing; rejoins the members of the snapshot, if any.
    public func start() async throws {
        let runtime = self.runtime
        try await loop.flatSubmit { runtime.value.start() }.get()
    }

    /// Joins the cluster through these seeds; returns how many answered. Retries with backoff
    /// happen inside (`Settings.joinRetryInterval`, `joinMaxAttempts`); throws when none answered.
    @discardableResult
    public func join(_ seeds: [Address]) async throws -> Int {
        let promise = loop.makePromise(of: JoinOutcome.self)
        let runtime = self.runtime
        loop.execute { runtime.value.join(seeds, promise: promise) }
        let outcome = try await promise.futureResult.get()
        if let c = outcome.conflict { throw GossipError.nameConflict(name: c.name, heldAt: c.claimed) }
        if outcome.contacted == 0 { throw GossipError.joinFailed(seeds: seeds) }
        return outcome.contacted
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
        await releaseGroup()
    }

    private func releaseGroup() async {
        guard ownsGroup else { return }
        let first = released.withLockedValue { done in
            defer { done = true }
            return !done
        }
        if first { try? await group.shutdownGracefully() }
    }

    // MARK: state

    /// Every member this node knows, itself included, with status, tags and address.
    public var members: [Member] { view.members }

    /// Membership changes as they happen. A new sequence starts with every live member as
    /// `joined`, then follows changes; it ends when the node stops. Each call is an independent
    /// subscriber; a subscriber that falls more than `buffer` events behind loses the oldest.
    public func events(buffer: Int = 65_536) -> AsyncStream<MembershipEvent> {
        view.subscribe(buffer: buffer)
    }

    /// Replaces this node's tags and gossips them. Tags no peer would accept (see
    /// `WireLimits`) are refused here rather than gossiped and dropped everywhere.
    public func setTags(_ tags: Tags) throws(GossipError) {
        do { try WireLimits.validate(tags) } catch {
            throw .tagsTooLarge
        }
        let runtime = self.runtime
        loop.execute { runtime.value.setTags(tags) }
    }

    /// Counters for tests and diagnostics (metrics carry the same numbers).
    public func statistics() async throws -> NodeStatistics {
        let runtime = self.runtime
        return try await loop.submit {
            let r = runtime.value
            return NodeStatistics(
                address: r.core.address, core: r.core.counters, wire: r.wireCounters, localHealth: r.core.localHealth,
                incarnation: r.core.currentIncarnation, udpAcks: r.udpAcks, streamMessagesIn: r.streamMessagesIn,
                packetsIn: r.packetsIn, packetsOut: r.packetsOut)
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
}
