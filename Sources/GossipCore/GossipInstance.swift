/// One member of a gossip cluster as a pure state machine: SWIM membership with the Lifeguard
/// extensions, byte-budgeted dissemination and push/pull anti-entropy.
///
/// Drive it with `handle(_:now:)`; it never reads a clock, never does I/O, and draws every
/// random choice from its own seeded generator, so the same inputs at the same times give the
/// same outputs on every run. The NIO runtime and the simulator run this very type.
///
/// The instance is a router over parts, each with its own state in its own file, none able to
/// touch another's fields: `MemberTable`, `FailureDetector`, `Dissemination`, `JoinProcess` and
/// `LeaveProcess`. The router owns what they share: the outbox, the random generator, the
/// current time, the timer tokens, and `memberChanged`, the one path of every member transition.
public struct GossipInstance: Sendable {
    public let settings: Settings
    public let name: String
    public let address: Address

    var rng: SeededGenerator
    var outbox: [Output] = []
    /// The time of the input being handled.
    var now: Instant = .zero
    var nextToken: UInt64 = 1
    /// The token of the timer armed last, for kinds whose timers supersede earlier ones.
    var currentToken: [TimerKind: UInt64] = [:]
    var nextConversation: UInt64 = 1

    var incarnation: UInt64 = 0
    var tags: Tags
    var started = false

    var table = MemberTable()
    var detector: FailureDetector
    var dissemination: Dissemination
    var joins = JoinProcess()
    var departure = LeaveProcess()
    var exchanges = OpenExchanges()
    var events: UserEvents
    /// This node's ring successor for eager pushes (`EventFlow.swift`); `.none` when stale.
    var successor: String?? = .none
    /// The live members by name, the ring state rows' trees are laid on (`StateTrees.swift`);
    /// nil when stale.
    var stateRing: StateRing?
    /// Eager-push datagrams left in this gossip interval (`Settings.eagerPushesPerRound`).
    var eagerBudget: Int
    var queries: Queries
    var state = ReplicatedState()
    /// Set by `init(resuming:…)` until `.start`.
    var resume: Resume?

    /// Reasons already reported by the input being handled (one bit per `Refusal`).
    var refusedThisInput: UInt32 = 0
    /// New members one push/pull may still add; nil outside an exchange.
    var exchangeBudget: Int?
    var reportedConflicts: Set<NameConflict> = []
    /// Names whose holder was last asked to prove itself because of a claim from elsewhere (`contest`).
    var contested: [String: Instant] = [:]

    public internal(set) var counters = Counters()
    /// When not nil, every transition that passes `memberChanged` is appended here, before its
    /// public event: for tests that hold the hook to "every transition, in order".
    package var memberChangeLog: [MembershipEvent]?

    public var isLeaving: Bool { departure.isLeaving }
    public var hasLeft: Bool { departure.hasLeft }

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
        self.dissemination = Dissemination(
            caps: settings.broadcastCaps, retransmitMultiplier: settings.retransmitMultiplier)
        self.incarnation = incarnation
        self.eagerBudget = settings.eagerPushesPerRound
        self.events = UserEvents(window: settings.eventWindow, keep: settings.eventsInPushPull)
        self.queries = Queries(window: settings.eventWindow, maxOpen: settings.broadcastCaps.query)
        do throws(RequestError) { try settings.check(tags: tags) } catch {
            throw SettingsError(setting: "tags", reason: "\(error)")
        }
        // A random first sequence number: a forged ack must guess it.
        self.detector = FailureDetector(
            firstSequence: UInt32(truncatingIfNeeded: rng.next()), healthMaximum: settings.awarenessMaxMultiplier)
        table.insert(
            Member(name: name, address: address, incarnation: incarnation, status: .alive, tags: tags, statusChangedAt: .zero),
            confirmed: true, rng: &rng)
    }

    /// Feeds one input at time `now`; returns what to do. The returned array is only valid
    /// until the next call: hold on to its elements, not to the array, so its storage is reused.
    public mutating func handle(_ input: Input, now: Instant) -> [Output] {
        // A push/pull that taught N members left room for N events: keeping it would cost
        // every node of a large simulation one output per member for good.
        outbox.removeAll(keepingCapacity: outbox.capacity <= Self.outboxCapacityKept)
        refusedThisInput = 0
        self.now = now
        switch input {
        case .start: start()
        case .join(let seeds, let id, let replay): join(seeds, id: id, replayEvents: replay)
        case .leave: leave()
        case .forceLeave(let member, let prune): forceLeave(member, prune: prune)
        case .setTags(let t): setTags(t)
        case .fireEvent(let name, let payload, let coalesce): fireEvent(name: name, payload: payload, coalesce: coalesce)
        case .query(let request, let id): ask(request, id: id)
        case .respond(let responder, let payload): respond(to: responder, payload: payload)
        case .writeRow(let table, let key, let value): writeRow(table: table, key: key, value: value)
        case .deleteRow(let table, let key): deleteRow(table: table, key: key)
        case .datagram(let from, let messages): receive(messages, from: from)
        case .stream(let from, let message, let conversation): receive(message, from: from, conversation: conversation)
        case .streamFailed(let conversation): streamFailed(conversation)
        case .unreachable(let address): unreachable(address)
        case .timer(let id): fire(id)
        }
        if dissemination.takeSendNow() { gossipRound() }
        return outbox
    }

    /// The outbox capacity kept from one input to the next (an input's outputs are a few
    /// datagrams, timers and events, except a push/pull's events).
    static let outboxCapacityKept = 64

    /// This node's own entry: inserted at creation and never reaped, so the lookup cannot fail.
    var selfIndex: Int { table.position(of: name)! }

    // MARK: views

    /// This node's view of every member it knows, itself included.
    public var knownMembers: [Member] { table.members }

    public func member(named name: String) -> Member? { table.member(named: name) }

    /// Members alive or suspect, this node included: the N of every formula.
    public var liveCount: Int { table.liveCount }

    /// The times the next user event and query this node originates will carry.
    public var eventClock: UInt64 { events.clock.next }
    public var queryClock: UInt64 { queries.clock.next }

    /// Queries this node asked that are still open.
    public var openQueries: Int { queries.asked.count }

    /// Lifeguard's local health score (0 is healthy).
    public var localHealth: Int { detector.health.score }

    public var currentIncarnation: UInt64 { incarnation }

    /// Updates waiting to be gossiped.
    public var pendingBroadcasts: Int { dissemination.count }

    /// Bytes of this node's member table and of its broadcast queues' arrays, by capacity: what
    /// grows with the members it knows and the updates it has queued (the simulator sums them
    /// over its nodes, Docs/benchmarks/SIMULATION.md).
    package var footprint: (table: Int, queues: Int) { (table.footprint, dissemination.footprint) }

    /// Updates of one class waiting to be gossiped (the `gossip_broadcast_queue_depth` metric).
    public func pendingBroadcasts(of c: BroadcastClass) -> Int { dissemination.count(of: c) }

    /// Updates the class caps dropped, by class.
    public func droppedBroadcasts(of c: BroadcastClass) -> Int { dissemination.dropped(of: c) }

    /// Suspicions under way (for tests of the membership hook).
    package var suspicionCount: Int { detector.suspicionCount }

    /// Joins under way.
    public var joinsInFlight: Int { joins.count }

    /// Queues an update of any class, as the coming user events, queries and state rows will;
    /// for tests and the simulator until then.
    package mutating func enqueueBroadcast(_ message: Message, key: BroadcastKey) {
        dissemination.enqueue(message, key: key)
    }

    // MARK: the membership hook

    /// Every member transition passes here: the parts that care observe it first, then the
    /// public event is appended. Queries forget a departed member's pending answers here, and
    /// replicated state marks a failed owner's rows unavailable and removes a departed one's.
    mutating func memberChanged(_ kind: MembershipEvent.Kind, _ m: Member) {
        detector.memberChanged(kind, m.name)
        successor = .none
        // The state trees' ring is the live members: it changes when one joins or stops being live.
        switch kind {
        case .failed, .left, .reaped:
            forgetWaiting(m.name)
            stateRing = nil
        case .joined: stateRing = nil
        case .updated, .suspected, .recovered: break
        }
        stateOwnerChanged(kind, m.name)
        let event = MembershipEvent(kind: kind, member: m)
        memberChangeLog?.append(event)
        outbox.append(.event(event))
    }

    // MARK: timers

    /// Arms a timer that makes every earlier timer of its kind stale.
    mutating func armReplacing(_ kind: TimerKind, at deadline: Instant) {
        precondition(kind.supersedesEarlier, "\(kind) does not supersede; arm it with armAdditional")
        let token = newToken()
        currentToken[kind] = token
        outbox.append(.timer(TimerID(kind: kind, token: token), at: deadline))
    }

    /// Arms a timer beside any others of its kind; the part that armed it checks the token.
    mutating func armAdditional(_ kind: TimerKind, token: UInt64, at deadline: Instant) {
        precondition(!kind.supersedesEarlier, "\(kind) supersedes; arm it with armReplacing")
        outbox.append(.timer(TimerID(kind: kind, token: token), at: deadline))
    }

    mutating func newToken() -> UInt64 {
        defer { nextToken += 1 }
        return nextToken
    }

    mutating func fire(_ id: TimerID) {
        if id.kind.supersedesEarlier, currentToken[id.kind] != id.token { return }
        if departure.hasLeft { return }
        switch id.kind {
        case .failureDetector(let t):
            switch t {
            case .probe:
                if departure.isLeaving { return }
                probeNext()
                // A node that counts more members gone than live is most likely the one cut off:
                // it looks for the others once per period instead of once per reconnect interval,
                // so it is back within a period or two of its link's return.
                if table.count - table.liveCount > table.liveCount { reconnectRound(always: true) }
            case .probeTimeout: probeTimedOut(UInt32(truncatingIfNeeded: id.token))
            case .probeDeadline: probeDeadlinePassed(UInt32(truncatingIfNeeded: id.token))
            case .indirectTimeout: relayTimedOut(UInt32(truncatingIfNeeded: id.token))
            case .suspicion: suspicionExpired(id.token)
            }
        case .dissemination(.gossip):
            eagerBudget = settings.eagerPushesPerRound
            flushDeferredTreePushes()
            gossipRound()
            armReplacing(.dissemination(.gossip), at: now + settings.gossipInterval)
            if departure.departureGossiped(dissemination, key: .member(name)) { finishLeave() }
        case .antiEntropy(.pushPull):
            if departure.isLeaving { return }
            pushPullRound()
            armReplacing(
                .antiEntropy(.pushPull), at: now + Formulas.pushPullInterval(base: settings.pushPullInterval, members: table.liveCount))
        case .antiEntropy(.reconnect):
            if departure.isLeaving { return }
            reconnectRound(always: false)
            armReplacing(.antiEntropy(.reconnect), at: now + settings.reconnectInterval)
        case .join(.retry): joinRetry(token: id.token)
        case .leave(.deadline): finishLeave()
        case .userEvents(.coalesce): coalesceWindowClosed()
        case .queries(.deadline): queryDeadline(token: id.token)
        case .state(.collect): collectTombstones()
        case .state(.repair): repairGaps()
        case .state(.announce): flushAnnouncements()
        case .state(.restore): withdrawStaleOwnRows()
        }
    }

    // MARK: shared helpers

    mutating func newConversation() -> ConversationID {
        defer { nextConversation += 1 }
        return ConversationID(raw: nextConversation)
    }

    /// Forgets the member at `i` (never this node) and reports it reaped.
    mutating func reap(at i: Int) {
        memberChanged(.reaped, table.remove(at: i))
    }
}

extension Counters: CustomStringConvertible {
    /// `probes=12 indirectProbes=1 ... refusals={invalid_name=2}`: every counter by its name.
    public var description: String {
        let refused = refusals.nonZero.map { "\($0.reason)=\($0.count)" }.joined(separator: " ")
        return "probes=\(probes) indirectProbes=\(indirectProbes) suspicionsRaised=\(suspicionsRaised) "
            + "refutations=\(refutations) misdirectedPings=\(misdirectedPings) pushPulls=\(pushPulls) "
            + "messagesIn=\(messagesIn) messagesOut=\(messagesOut) unknownSections=\(unknownSections) "
            + "incompleteExchanges=\(incompleteExchanges) userEventsFired=\(userEventsFired) "
            + "userEventsDelivered=\(userEventsDelivered) duplicates=\(duplicates) tooOld=\(tooOld) "
            + "eagerPushes=\(eagerPushes) eagerPushesSkipped=\(eagerPushesSkipped) queriesAsked=\(queriesAsked) "
            + "queriesReceived=\(queriesReceived) queriesDropped=\(queriesDropped) queryResponsesSent=\(queryResponsesSent) "
            + "queryResponsesReceived=\(queryResponsesReceived) queryResponsesIgnored=\(queryResponsesIgnored) "
            + "relaysForwarded=\(relaysForwarded) oversizedNotSent=\(oversizedNotSent) requestsRefused=\(requestsRefused) "
            + "unreachableEvidence=\(unreachableEvidence) unreachableIgnored=\(unreachableIgnored) "
            + "contests=\(contests) joinsWaitingOnContest=\(joinsWaitingOnContest) "
            + "refusals={\(refused)}"
    }
}
