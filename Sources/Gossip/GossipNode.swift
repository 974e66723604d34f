public import GossipCore
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
///
/// Every call answers in every state: before `start`, while running or leaving, and after the
/// node left or stopped, each does its job or throws a `GossipError` at once (`notRunning`,
/// `alreadyStarted`); `leave()` and `stop()` on a stopped node return at once.
public final class GossipNode: Service, Sendable {
    public let configuration: GossipConfiguration
    public var name: String { configuration.name }

    private let loop: any EventLoop
    private let runtime: NIOLoopBoundBox<NodeRuntime>
    private let view: MembershipView
    let hubs = ApplicationHubs()

    /// Checks the configuration (`GossipConfiguration.validate()`); binds nothing yet.
    public init(configuration: GossipConfiguration) throws(GossipError) {
        try configuration.validate()
        self.configuration = configuration
        // NIO's shared group by default (its guidance for libraries): its loops outlive every
        // node, so each call still has a loop to answer on after the node has stopped.
        loop = (configuration.eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton).next()
        let view = MembershipView()
        self.view = view
        runtime = NIOLoopBoundBox.makeBoxSendingValue(
            NodeRuntime(configuration: configuration, loop: loop, view: view, hubs: hubs), eventLoop: loop)
    }

    /// Runs `body` on the node's loop and waits for the answer it passes to `reply`.
    func onLoop<T: Sendable>(
        _ body: @escaping @Sendable (NodeRuntime, @escaping @Sendable (T) -> Void) -> Void
    ) async -> T {
        let runtime = self.runtime
        let loop = self.loop
        return await withCheckedContinuation { continuation in
            loop.execute { body(runtime.value) { continuation.resume(returning: $0) } }
        }
    }

    // MARK: lifecycle

    /// Binds the sockets and starts probing; rejoins the members of the snapshot, if any.
    /// Returns where the node is reachable and whether it is rejoining from its snapshot
    /// (`rejoining == 0`: nobody to rejoin, so join seeds yourself). Throws `bindFailed` (with
    /// the system's error as `underlying`), or `alreadyStarted` on a node that was started or
    /// stopped before.
    @discardableResult
    public func start() async throws(GossipError) -> StartResult {
        try await onLoop { runtime, reply in runtime.start { reply($0) } }.get()
    }

    /// Joins the cluster through these seeds; returns how many of them answered. The core retries
    /// with backoff (`Settings.joinRetryInterval`, doubling, `joinMaxAttempts` tries), for at
    /// most `GossipConfiguration.joinTimeout`.
    ///
    /// Throws `joinFailed` with what happened per seed when none answered, `nameConflict` when
    /// the cluster has a live member with this node's name, `cancelled` when the calling task is
    /// cancelled, and `notRunning` unless the node runs. After a failure or cancellation the
    /// core may still finish its remaining attempts; a late answer then shows in `members`.
    ///
    /// The node takes the cluster's event clock but does not deliver user events fired before
    /// it joined, unless `replayEvents` (Serf's `join -replay`).
    @discardableResult
    public func join(_ seeds: [Address], replayEvents: Bool = false) async throws(GossipError) -> Int {
        try await join(seeds: seeds.map(Seed.address), replayEvents: replayEvents)
    }

    /// Joins through seeds given as `host[:port]` (port 7946 by default): IP addresses, or DNS
    /// names, of which every address (of the bound address's family) is tried. Names are
    /// resolved off the event loop, and again on each retry, so a seed that moved is found.
    /// Throws `invalidSeed` for a string that is not `host[:port]` and for a name that does not
    /// resolve when the join begins; otherwise as `join(_: [Address])`.
    @discardableResult
    public func join(_ seeds: [String], replayEvents: Bool = false) async throws(GossipError) -> Int {
        var parsed: [Seed] = []
        for s in seeds { parsed.append(try Seed(parsing: s)) }
        return try await join(seeds: parsed, replayEvents: replayEvents)
    }

    private func join(seeds: [Seed], replayEvents: Bool) async throws(GossipError) -> Int {
        let token = JoinToken(replayEvents: replayEvents)
        let runtime = self.runtime
        let loop = self.loop
        let result: Result<Int, GossipError> = await withTaskCancellationHandler {
            await onLoop { runtime, reply in runtime.join(seeds, token: token) { reply($0) } }
        } onCancel: {
            token.cancel()
            loop.execute { runtime.value.cancelJoin(token) }
        }
        return try result.get()
    }

    /// Leaves gracefully: the cluster sees "left", not "failed". Returns once the departure has
    /// been gossiped (or `Settings.leavePropagationTimeout` passed) and every socket is closed;
    /// at once on a node that is stopped. On a node never started, it stops it.
    public func leave() async {
        await onLoop { runtime, reply in
            runtime.beginLeave()
            runtime.whenStopped { reply(()) }
        }
    }

    /// Stops at once, without a goodbye: the cluster will declare this node failed. For tests
    /// and crashes in all but name; daemons should `leave()`. Returns once every socket is
    /// closed (and the snapshot written); at once on a node that is stopped.
    public func stop() async {
        await onLoop { runtime, reply in
            runtime.stop()
            runtime.whenStopped { reply(()) }
        }
    }

    /// Runs until graceful shutdown (SIGTERM through a `ServiceGroup`), then leaves; on
    /// cancellation it stops without leaving. Starts the node unless it was started already.
    ///
    /// Returns whenever the node stops, also when `leave()` or `stop()` was called elsewhere.
    /// To a `ServiceGroup` a service that returns before graceful shutdown has finished
    /// unexpectedly: with the default `successTerminationBehavior` (`.cancelGroup`) the group
    /// cancels the other services and throws `ServiceGroupError`. Add the node as
    /// `ServiceGroupConfiguration.ServiceConfiguration(service: node, successTerminationBehavior:
    /// .gracefullyShutdownGroup)` so that a node that leaves shuts the group down gracefully and
    /// `run()` of the group returns (the daemon of `Docs/LIBRARY.md` does).
    public func run() async throws {
        let phase = await onLoop { runtime, reply in reply(runtime.phase == .idle) }
        if phase { try await start() }
        let runtime = self.runtime
        let loop = self.loop
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await self.onLoop { runtime, reply in runtime.whenStopped { reply(()) } }
            } onGracefulShutdown: {
                loop.execute { runtime.value.beginLeave() }
            }
        } onCancel: {
            loop.execute { runtime.value.stop() }
        }
    }

    // MARK: state

    /// Every member this node knows, itself included, with status, tags and address; sorted
    /// by name.
    public var members: [Member] { view.members }

    /// The member of that name as this node knows it (this node's own entry included); nil for
    /// a name it does not know.
    public func member(named name: String) -> Member? { view.members.first { $0.name == name } }

    /// Waits, without polling, until at least `count` members (this node included) have
    /// `status`, and returns the members at that moment, sorted by name. Throws `notRunning`
    /// when the node stops first (at once on a stopped node), `cancelled` when the calling task
    /// is cancelled. Bound the wait yourself (a task group with a deadline) if it must end.
    @discardableResult
    public func waitForMembers(_ count: Int, status: MemberStatus = .alive) async throws(GossipError) -> [Member] {
        func met() -> [Member]? {
            let now = view.members
            return now.count(where: { $0.status == status }) >= count ? now : nil
        }
        let updates = view.subscribe(buffer: 1_024)
        if let now = met() { return now }
        for await _ in updates {
            if let now = met() { return now }
        }
        if let now = met() { return now }
        throw Task.isCancelled ? .cancelled : .notRunning
    }

    /// This node's own entry, once started: its advertised address (with the port the system
    /// picked for port 0), incarnation, status and tags. Nil before `start()`.
    public var localMember: Member? { member(named: configuration.name) }

    /// Membership changes as they happen. A new sequence starts with every live member as
    /// `.event(joined)`, then follows changes; it ends when the node stops (at once on a stopped
    /// node). Each call is an independent subscriber.
    ///
    /// A subscriber that falls `buffer` or more elements behind is not left with a wrong view:
    /// what it missed is replaced by one `.lost(members)`, the whole membership at that
    /// moment, after which events follow again.
    ///
    /// `async` as every subscription (`userEvents`, `incomingQueries`, `stateChanges`): the
    /// subscription exists once the call returns, so nothing that happens after it is missed.
    public func events(buffer: Int = 65_536) async -> MembershipUpdates {
        view.subscribe(buffer: buffer)
    }

    /// Replaces this node's tags and gossips them; returns once the node has taken them (its
    /// own entry in `members` shows them, and the announcement is on its way). Throws
    /// `tagsTooLarge` for tags over `Settings.tagsSizeLimit` or with an invalid key, and `notRunning` unless
    /// the node is running (before `start`, while leaving, after it stopped).
    public func setTags(_ tags: Tags) async throws(GossipError) {
        do throws(RequestError) { try configuration.effectiveSettings.check(tags: tags) } catch {
            throw .tagsTooLarge
        }
        let applied = await onLoop { runtime, reply in reply(runtime.setTags(tags)) }
        if !applied { throw .notRunning }
    }

    /// Counters for tests and diagnostics (metrics carry the same numbers). Answers in every
    /// state; before `start` the counters are zero and the address is the configured one.
    public func statistics() async -> NodeStatistics {
        await onLoop { runtime, reply in reply(runtime.statistics()) }
    }
}

extension GossipNode {
    /// Tests only: writes one datagram to `address` without the destination checks (the
    /// kernel's own error then reaches the transport) and returns once it was written or failed.
    func sendUncheckedDatagram(_ messages: [Message], to address: Address) async {
        await onLoop { runtime, reply in
            runtime.sendDatagram(messages, to: address, checked: false)
            runtime.flushDatagrams()
            reply(())
        }
    }

    /// Tests only: the lifecycle phase, by name (`idle`, `running`, `leaving`, `stopped`...).
    func phase() async -> String {
        await onLoop { runtime, reply in reply("\(runtime.phase)") }
    }

    /// Tests only: starts leaving and returns while the departure is being gossiped.
    func beginLeave() async {
        await onLoop { runtime, reply in
            runtime.beginLeave()
            reply(())
        }
    }

    /// Tests only: event subscriptions still registered.
    var subscriberCount: Int { view.subscriberCount }

    /// Tests only: what the runtime still holds (connections, timers, joins, sockets).
    func held() async -> [String: Int] {
        await onLoop { runtime, reply in
            let h = runtime.held
            reply([
                "connections": h.connections, "timers": h.timers, "awaitingReply": h.awaitingReply, "joins": h.joins,
                "channels": h.channels,
            ])
        }
    }
}

/// What `start()` found.
public struct StartResult: Sendable, Hashable {
    /// The advertised address, with the port actually bound.
    public var address: Address
    /// The incarnation the node runs at: the snapshot's plus one, or 0.
    public var incarnation: UInt64
    /// Whether a snapshot file was read (even one that says the node left).
    public var snapshotFound: Bool
    /// Members of the snapshot the node is rejoining in the background; 0 when there was no
    /// snapshot, it said `left 1`, or it listed nobody: then join seeds yourself.
    public var rejoining: Int
}
