/// One member of a gossip cluster as a pure state machine: SWIM membership with the Lifeguard
/// extensions, byte-budgeted dissemination and push/pull anti-entropy.
///
/// Drive it with `handle(_:now:)`; it never reads a clock, never does I/O, and draws every
/// random choice from its own seeded generator, so the same inputs at the same times give the
/// same outputs on every run. The NIO runtime and the simulator run this very type.
public struct GossipInstance {
    public let settings: Settings
    public let name: String
    public let address: Address

    var rng: SeededGenerator
    var incarnation: UInt64 = 0
    var tags: Tags

    /// Every known member, this node included; also the probe order (SWIM's randomized round robin).
    var members: [Member] = []
    var index: [String: Int] = [:]
    var probeCursor = 0
    /// Members alive or suspect, this node included: the N of every formula.
    var liveCount = 0
    /// Parallel to `members`: whether the member has been heard directly at its current
    /// address (it answered one of this node's probes, or probed this node itself). Members
    /// vouched for only by others are probed in a lane of their own, so however many of them
    /// arrive, the members already confirmed are probed as often as before (see `probeNext`).
    var confirmed: [Bool] = []
    /// Live members not yet confirmed, and the round-robin position of their lane.
    var unconfirmedLive = 0
    var unconfirmedCursor = 0

    var health: LocalHealth
    var broadcasts: Broadcasts
    var sequence: UInt32 = 0
    var probes: [UInt32: PendingProbe] = [:]
    var relays: [UInt32: Relay] = [:]
    var suspicions: [String: Suspicion] = [:]
    var suspicionNames: [UInt64: String] = [:]
    var nextToken: UInt64 = 1
    var periodic: [TimerID.Kind: UInt64] = [:]
    var joinState: JoinState?
    var nextConversation: UInt64 = 1
    var leaveBroadcast: UInt64?
    var started = false
    var eager = false
    var outbox: [Output] = []
    /// Reasons already reported by the input being handled (one bit per `Refusal`).
    var refusedThisInput: UInt32 = 0
    /// New members one push/pull may still add; nil outside an exchange.
    var exchangeBudget: Int?
    var reportedConflicts: Set<NameConflict> = []

    public internal(set) var isLeaving = false
    public internal(set) var hasLeft = false
    public internal(set) var counters = Counters()

    /// `incarnation` lets a restarted process resume above the incarnation it last used (from a
    /// snapshot), so it outranks whatever the cluster last said about it without a refutation round.
    public init(
        name: String, address: Address, tags: Tags = Tags(), settings: Settings, seed: UInt64, incarnation: UInt64 = 0
    ) throws(SettingsError) {
        try settings.validate()
        if !Limits.isValidName(name) {
            throw SettingsError(
                setting: "name",
                reason: "must be 1 to \(Limits.maxNameLength) bytes of UTF-8 without control or bidirectional formatting characters")
        }
        if incarnation > Limits.maxIncarnation {
            throw SettingsError(setting: "incarnation", reason: "must be at most \(Limits.maxIncarnation)")
        }
        self.settings = settings
        self.name = name
        self.address = address
        self.tags = tags
        self.rng = SeededGenerator(seed: seed)
        self.health = LocalHealth(maximum: settings.awarenessMaxMultiplier)
        self.broadcasts = Broadcasts(caps: settings.broadcastCaps)
        self.incarnation = incarnation
        // A random first sequence number: a forged ack must guess it.
        self.sequence = UInt32(truncatingIfNeeded: rng.next())
        insert(
            Member(name: name, address: address, incarnation: incarnation, status: .alive, tags: tags, statusChangedAt: .zero),
            confirmed: true)
    }

    /// Feeds one input at time `now`; returns what to do. The returned array is only valid
    /// until the next call: hold on to its elements, not to the array, so its storage is reused.
    public mutating func handle(_ input: Input, now: Instant) -> [Output] {
        outbox.removeAll(keepingCapacity: true)
        refusedThisInput = 0
        switch input {
        case .start: start(now)
        case .join(let seeds): join(seeds, now)
        case .leave: leave(now)
        case .setTags(let t): setTags(t, now)
        case .datagram(let from, let messages): receive(messages, from: from, now)
        case .stream(let from, let message, let conversation): receive(message, from: from, conversation: conversation, now)
        case .streamFailed(let conversation): streamFailed(conversation, now)
        case .timer(let id): fire(id, now)
        }
        if eager {
            eager = false
            gossipRound(now)
        }
        return outbox
    }

    /// This node's own entry: inserted at creation and never reaped, so the lookup cannot fail.
    var selfIndex: Int { index[name]! }

    // MARK: views

    /// This node's view of every member it knows, itself included.
    public var knownMembers: [Member] { members }

    public func member(named name: String) -> Member? { index[name].map { members[$0] } }

    /// Members alive or suspect, this node included.
    public var aliveCount: Int { liveCount }

    /// Lifeguard's local health score (0 is healthy).
    public var localHealth: Int { health.score }

    public var currentIncarnation: UInt64 { incarnation }

    /// Updates waiting to be gossiped.
    public var pendingBroadcasts: Int { broadcasts.count }

    /// Updates of one class waiting to be gossiped (the `gossip_broadcast_queue_depth` metric).
    public func pendingBroadcasts(of c: BroadcastClass) -> Int { broadcasts.count(of: c) }

    /// Updates the class caps dropped, by class.
    public func droppedBroadcasts(of c: BroadcastClass) -> Int { broadcasts.dropped[c.rawValue] }

    /// Queues an update of any class, as the coming user events, queries and state rows will;
    /// for tests and the simulator until then.
    package mutating func enqueueBroadcast(_ message: Message, key: BroadcastKey) {
        broadcasts.enqueue(message, key: key)
    }

    // MARK: lifecycle

    mutating func start(_ now: Instant) {
        guard !started else { return }
        started = true
        members[selfIndex].statusChangedAt = now
        emit(.joined, members[selfIndex])
        // Random phases keep a cluster started at one instant from probing in lockstep.
        arm(.probe, at: now + settings.probeInterval.scaled(by: rng.unit()))
        arm(.gossip, at: now + settings.gossipInterval.scaled(by: rng.unit()))
        arm(.pushPull, at: now + settings.pushPullInterval.scaled(by: rng.unit()))
        arm(.reconnect, at: now + settings.reconnectInterval.scaled(by: rng.unit()))
    }

    mutating func setTags(_ newTags: Tags, _ now: Instant) {
        guard !isLeaving else { return }
        tags = newTags
        incarnation = Self.incarnation(above: incarnation)
        let i = selfIndex
        members[i].tags = newTags
        members[i].incarnation = incarnation
        emit(.updated, members[i])
        broadcastSelfAlive()
    }

    mutating func leave(_ now: Instant) {
        guard !isLeaving else { return }
        isLeaving = true
        incarnation = Self.incarnation(above: incarnation)
        let i = selfIndex
        members[i].incarnation = incarnation
        members[i].status = .left
        members[i].statusChangedAt = now
        liveChanged(i, live: false)
        let id = broadcasts.enqueue(.dead(Dead(incarnation: incarnation, name: name, from: name, left: true)), key: .member(name))
        leaveBroadcast = id
        eager = true
        emit(.left, members[i])
        arm(.leaveDeadline, at: now + settings.leavePropagationTimeout)
        if liveCount == 0 { finishLeave() }
    }

    mutating func finishLeave() {
        guard isLeaving, !hasLeft else { return }
        hasLeft = true
        outbox.append(.leaveCompleted)
    }

    // MARK: timers

    mutating func arm(_ kind: TimerID.Kind, at deadline: Instant) {
        let token = nextToken
        nextToken += 1
        periodic[kind] = token
        outbox.append(.timer(TimerID(kind: kind, token: token), at: deadline))
    }

    mutating func armOnce(_ kind: TimerID.Kind, token: UInt64, at deadline: Instant) {
        outbox.append(.timer(TimerID(kind: kind, token: token), at: deadline))
    }

    mutating func newToken() -> UInt64 {
        defer { nextToken += 1 }
        return nextToken
    }

    mutating func fire(_ id: TimerID, _ now: Instant) {
        switch id.kind {
        case .probe, .gossip, .pushPull, .reconnect, .joinRetry, .leaveDeadline:
            guard periodic[id.kind] == id.token else { return }
        default: break
        }
        if hasLeft { return }
        switch id.kind {
        case .probe:
            if isLeaving { return }
            probeNext(now)
            // A node that counts more members gone than live is most likely the one cut off:
            // it looks for the others once per period instead of once per reconnect interval,
            // so it is back within a period or two of its link's return.
            if members.count - liveCount > liveCount { reconnectRound(now, always: true) }
        case .gossip:
            gossipRound(now)
            arm(.gossip, at: now + settings.gossipInterval)
            if let id = leaveBroadcast, !broadcasts.isPending(id, key: .member(name)) { finishLeave() }
        case .pushPull:
            if isLeaving { return }
            pushPullRound(now)
            arm(.pushPull, at: now + Formulas.pushPullInterval(base: settings.pushPullInterval, members: liveCount))
        case .reconnect:
            if isLeaving { return }
            reconnectRound(now, always: false)
            arm(.reconnect, at: now + settings.reconnectInterval)
        case .probeTimeout: probeTimedOut(UInt32(truncatingIfNeeded: id.token), now)
        case .probeDeadline: probeDeadlinePassed(UInt32(truncatingIfNeeded: id.token), now)
        case .indirectTimeout: relayTimedOut(UInt32(truncatingIfNeeded: id.token), now)
        case .suspicion: suspicionExpired(id.token, now)
        case .joinRetry: joinRetry(now)
        case .leaveDeadline: finishLeave()
        }
    }

    // MARK: table

    /// Adds a member at a random place in the probe order, as SWIM's round robin requires, so a
    /// newcomer is probed within one round on average whatever its arrival time. Returns its position.
    @discardableResult
    mutating func insert(_ m: Member, confirmed c: Bool = false) -> Int {
        members.append(m)
        confirmed.append(c)
        let last = members.count - 1
        index[m.name] = last
        if m.status <= .suspect { liveChanged(last, live: true) }
        guard last > 0 else { return last }
        let j = rng.index(below: members.count)
        swapMembers(last, j)
        return j
    }

    /// Forgets the member at `i` (never this node) and returns it.
    mutating func remove(at i: Int) -> Member {
        swapMembers(i, members.count - 1)
        if members[members.count - 1].status <= .suspect { liveChanged(members.count - 1, live: false) }
        let m = members.removeLast()
        confirmed.removeLast()
        index[m.name] = nil
        clearSuspicion(m.name)
        return m
    }

    /// Keeps the live counts right as the member at `i` becomes live or stops being live.
    mutating func liveChanged(_ i: Int, live: Bool) {
        let delta = live ? 1 : -1
        liveCount += delta
        if !confirmed[i] { unconfirmedLive += delta }
    }

    /// The member at `i` was heard directly.
    mutating func confirm(_ i: Int) {
        guard !confirmed[i] else { return }
        confirmed[i] = true
        if members[i].status <= .suspect { unconfirmedLive -= 1 }
    }

    mutating func swapMembers(_ a: Int, _ b: Int) {
        guard a != b else { return }
        members.swapAt(a, b)
        confirmed.swapAt(a, b)
        index[members[a].name] = a
        index[members[b].name] = b
    }

    mutating func emit(_ kind: MembershipEvent.Kind, _ m: Member) {
        outbox.append(.event(MembershipEvent(kind: kind, member: m)))
    }

    mutating func nextSequence() -> UInt32 {
        sequence &+= 1
        return sequence
    }

    mutating func newConversation() -> ConversationID {
        defer { nextConversation += 1 }
        return ConversationID(raw: nextConversation)
    }
}

/// One of this node's own probes, from ping until the end of the protocol period.
struct PendingProbe {
    var target: String
    var indirect = false
    var expectedNacks = 0
    var nacks = 0
}

/// An indirect probe this node runs for another member.
struct Relay {
    var requester: String
    var requesterAddress: Address
    var requesterSequence: UInt32
    var wantsNack: Bool
}

struct JoinState {
    var seeds: [Address]
    /// This attempt's exchanges, one per seed.
    var pending: [ConversationID: Address] = [:]
    var answered = 0
    var failed = 0
    var attempt = 1
}

/// What a node counts about its own decisions; the runtime exports these as metrics.
public struct Counters: Sendable, Equatable {
    public init() {}

    public var probes = 0
    public var indirectProbes = 0
    public var suspicionsRaised = 0
    public var refutations = 0
    public var misdirectedPings = 0
    /// Input refused where it entered, by reason.
    public var refusals = Refusals()
    public var pushPulls = 0
    public var messagesIn = 0
    public var messagesOut = 0
}

extension Counters: CustomStringConvertible {
    /// `probes=12 indirectProbes=1 ... refusals={invalid_name=2}`: every counter by its name.
    public var description: String {
        let refused = refusals.nonZero.map { "\($0.reason)=\($0.count)" }.joined(separator: " ")
        return "probes=\(probes) indirectProbes=\(indirectProbes) suspicionsRaised=\(suspicionsRaised) "
            + "refutations=\(refutations) misdirectedPings=\(misdirectedPings) pushPulls=\(pushPulls) "
            + "messagesIn=\(messagesIn) messagesOut=\(messagesOut) refusals={\(refused)}"
    }
}
