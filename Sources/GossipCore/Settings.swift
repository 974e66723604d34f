/// Protocol settings. The defaults are the LAN profile Serf and memberlist users know.
///
/// Settings are checked once, by `validate()`, when a node is created; the core then trusts them.
public struct Settings: Sendable, Equatable {
    /// Time between probes of one member (SWIM's protocol period T').
    public var probeInterval: Duration = .seconds(1)
    /// How long to wait for a direct ack before asking helpers to probe indirectly.
    public var probeTimeout: Duration = .milliseconds(500)
    /// How many helpers relay an indirect probe (SWIM's k).
    public var indirectChecks: Int = 3
    /// Time between gossip rounds.
    public var gossipInterval: Duration = .milliseconds(200)
    /// Peers each gossip round sends to.
    public var gossipNodes: Int = 3
    /// How long a dead member still receives gossip, so that it can learn of its death and refute.
    public var gossipToTheDead: Duration = .seconds(30)
    /// SWIM suspicion multiplier: the minimum suspicion timeout is
    /// `suspicionMultiplier * max(1, log10(N)) * probeInterval`.
    public var suspicionMultiplier: Int = 4
    /// The shortest suspicion timeout in probe intervals, whatever the cluster size. The first
    /// suspicion of a member comes at least one probe interval after it fell silent (its
    /// probe's period must end), so a member that stops answering for up to this many minus
    /// one intervals (a paused process, a long garbage-collection stop) refutes with a probe
    /// interval to spare before anyone declares it failed: 7 s of a 1 s interval. memberlist
    /// has no such floor: its minimum, `suspicionMultiplier * log10(N)` intervals, is 6.02 at 32
    /// members and 4 below 10, so a 7 s pause there is a race (Docs/benchmarks/DETECTION.md,
    /// "Pause"). Evidence that a member's process is gone (ICMP port unreachable) still ends a
    /// suspicion after one probe timeout; zero gives memberlist's timing.
    public var suspicionFloorIntervals: Int = 7
    /// Lifeguard: the maximum suspicion timeout is this times the minimum.
    public var suspicionMaxTimeoutMultiplier: Int = 6
    /// Lifeguard: the local health score ranges over `0 ..< awarenessMaxMultiplier`.
    public var awarenessMaxMultiplier: Int = 8
    /// Each update is retransmitted `retransmitMultiplier * ceil(log10(N + 1))` times.
    public var retransmitMultiplier: Int = 4
    /// Time between full state exchanges with one random member (scaled up past 32 members).
    public var pushPullInterval: Duration = .seconds(30)
    /// Time between attempts to reach one failed member again, so that partitions heal.
    public var reconnectInterval: Duration = .seconds(30)
    /// A failed member is forgotten, and no longer retried, after this long.
    public var reapFailedAfter: Duration = .seconds(24 * 3600)
    /// A member that left is forgotten after this long (its tombstone).
    public var reapLeftAfter: Duration = .seconds(24 * 3600)
    /// The first wait before a join attempt is retried; it doubles each time.
    public var joinRetryInterval: Duration = .seconds(1)
    /// Join attempts before giving up.
    public var joinMaxAttempts: Int = 5
    /// After `leave`, how long at most to keep gossiping the departure.
    public var leavePropagationTimeout: Duration = .seconds(5)
    /// The largest datagram, in bytes, including every header and the sealing overhead.
    public var packetBudget: Int = 1400
    /// Bytes of each datagram taken by headers and sealing. Set by the shell from its codec
    /// (keyring and cluster label), so not settable outside this package.
    public package(set) var packetOverhead: Int = 0
    /// Lifeguard on (local health, dynamic suspicion, buddy probes) or plain SWIM.
    public var lifeguard: Bool = true
    /// Members the table holds, this node included. A newcomer beyond it first displaces the
    /// member failed or departed longest ago; with none to displace it is refused (counted as
    /// `Refusal.tableFull`). The bound keeps a flood of invented members from exhausting memory.
    public var maxMembers: Int = 16_384
    /// New members taken from one push/pull exchange; the rest are refused
    /// (`Refusal.exchangeLimit`) and learned later by gossip or the next exchange. One forged
    /// exchange can then add only this many members.
    public var maxMembersLearnedPerExchange: Int = 1_024
    /// Updates each broadcast class may hold; past it the most-sent are dropped first.
    public var broadcastCaps = BroadcastCaps()

    /// The largest user event this node fires: name plus payload, in bytes (Serf: 512). Each
    /// of these size limits is also held to what one datagram can carry with the longest
    /// names (`effectiveLimit`), so a small `packetBudget` lowers them.
    public var userEventSizeLimit: Int = 1_024
    /// The largest query this node asks: name, payload and encoded filters, in bytes.
    public var querySizeLimit: Int = 1_024
    /// The largest answer this node sends to a query, in bytes of payload.
    public var queryResponseSizeLimit: Int = 1_024
    /// The largest tag block this node sets, encoded, in bytes (Serf: 512).
    public var tagsSizeLimit: Int = 1_024
    /// Lamport times of user events and queries remembered for deduplication (Serf's
    /// EventBuffer and QueryBuffer, 512): an item older than this is refused as too old.
    public var eventWindow: Int = 512
    /// Recent user events carried in push/pull, so that a member that missed them catches up.
    public var eventsInPushPull: Int = 64
    /// Same-named coalescable events received within this window are delivered once, as the
    /// newest of them (Serf's user coalescing); zero turns coalescing off.
    public var userEventCoalescePeriod: Duration = .zero
    /// `extra` of `Formulas.eagerFanout`: each new event or query is pushed at once to
    /// `ceil(ln N + extra)` members (bounded by the retransmit limit).
    public var eagerFanoutExtra: Int = 4
    /// Eager-push datagrams a node may send per gossip interval; past it, new events and queries
    /// go by gossip alone (still delivered once, a little later). A flood of events from one
    /// member then costs each receiver at most this, and never delays membership updates.
    public var eagerPushesPerRound: Int = 128
    /// Serf's QueryTimeoutMult: the default query timeout is
    /// `gossipInterval × this × ceil(log10(N + 1))`.
    public var queryTimeoutMultiplier: Int = 16
    /// The longest timeout a query may ask for (from this node or from the network).
    public var maxQueryTimeout: Duration = .seconds(300)

    /// Replicated state: live rows one owner may hold (this node's writes are refused past
    /// it, other owners' rows refused and counted); with tombstones, twice as many entries.
    public var stateRowsPerOwner: Int = 4_096
    /// Tables one owner may use.
    public var stateTables: Int = 64
    /// The longest key this node writes, in bytes (at most `Limits.maxStateKeyLength`).
    public var stateKeySizeLimit: Int = 256
    /// The largest row this node writes: key plus value, in bytes, also held to what one
    /// datagram carries (`effectiveLimit` with `Message.stateRowOverhead`).
    public var stateValueSizeLimit: Int = 1_024
    /// How long a deleted row's tombstone is kept before it is collected. A tombstone must
    /// outlive the longest partition the cluster heals, or a replica cut off for longer could
    /// bring the deleted row back; the cluster heals partitions until a failed member is reaped
    /// (`reapFailedAfter`, 24 h), so the default is twice that.
    public var stateTombstoneAge: Duration = .seconds(48 * 3600)
    /// How long a restarted node, once started, leaves in place the rows of a previous life that
    /// its application has not written again: the application republishes what it still holds
    /// in that time, and only the rest is withdrawn (tombstoned) when it ends. Withdrawn at once,
    /// a row that is written again a moment later is a gap on every member: the overlay agent's
    /// forwarding entries to a restarted host were gone for 20 to 30 ms. 0 withdraws at once.
    public var stateRestoreGrace: Duration = .seconds(5)
    /// Spanning trees a new row is pushed along (`StateTrees`): each member hears it from this
    /// many parents, one per tree, so the cluster receives about this many copies per member;
    /// 0 sends rows like user events (random eager pushes, then gossip: `4 × ceil(log10(N+1))`
    /// copies per member).
    public var stateTrees: Int = 3
    /// Children of a member in each state tree; a tree of N members is about log_fanout(N) deep.
    public var stateTreeFanout: Int = 4
    /// Further trees along which a member announces the newest version of an owner whose rows
    /// it applied (message type 14, once per gossip interval and owner), so that a replica that
    /// missed the owner's last write on every eager tree hears of it; 0 announces nothing.
    public var stateLazyTrees: Int = 2
    /// How long a gap in an owner's versions waits for copies still on their way before this
    /// node asks for the missing writes (`ReplicatedStateRepair.swift`).
    public var stateRepairWait: Duration = .milliseconds(500)

    public init() {}

    /// A size limit as enforced: at most what a datagram holds next to `overhead` bytes of
    /// message fields (`Message.userEventOverhead`...).
    public func effectiveLimit(_ limit: Int, overhead: Int) -> Int {
        max(0, min(limit, payloadBudget - overhead))
    }

    /// Bytes available to messages in one datagram.
    public var payloadBudget: Int { packetBudget - packetOverhead }

    /// Checks every setting against a lower and an upper bound, so that no formula the core
    /// computes from them (timeouts scaled by health and cluster size, backoffs) can overflow.
    public func validate() throws(SettingsError) {
        func within(_ d: Duration, _ name: String, _ range: ClosedRange<Duration>) throws(SettingsError) {
            if !range.contains(d) {
                throw SettingsError(setting: name, reason: "must be within \(range.lowerBound) ... \(range.upperBound), got \(d)")
            }
        }
        func within(_ v: Int, _ name: String, _ range: ClosedRange<Int>) throws(SettingsError) {
            if !range.contains(v) {
                throw SettingsError(setting: name, reason: "must be within \(range.lowerBound) ... \(range.upperBound), got \(v)")
            }
        }
        let interval = Duration.nanoseconds(1)...Self.maxInterval
        let age = Duration.zero...Self.maxAge
        try within(probeInterval, "probeInterval", interval)
        try within(probeTimeout, "probeTimeout", interval)
        try within(gossipInterval, "gossipInterval", interval)
        try within(pushPullInterval, "pushPullInterval", interval)
        try within(reconnectInterval, "reconnectInterval", interval)
        try within(joinRetryInterval, "joinRetryInterval", interval)
        try within(leavePropagationTimeout, "leavePropagationTimeout", interval)
        try within(gossipToTheDead, "gossipToTheDead", age)
        try within(reapFailedAfter, "reapFailedAfter", age)
        try within(reapLeftAfter, "reapLeftAfter", age)
        if probeTimeout >= probeInterval {
            throw SettingsError(setting: "probeTimeout", reason: "must be shorter than probeInterval (\(probeInterval))")
        }
        try within(indirectChecks, "indirectChecks", 0...16)
        try within(gossipNodes, "gossipNodes", 1...64)
        try within(suspicionMultiplier, "suspicionMultiplier", 1...100)
        try within(suspicionMaxTimeoutMultiplier, "suspicionMaxTimeoutMultiplier", 1...100)
        try within(suspicionFloorIntervals, "suspicionFloorIntervals", 0...100)
        try within(awarenessMaxMultiplier, "awarenessMaxMultiplier", 1...100)
        try within(retransmitMultiplier, "retransmitMultiplier", 1...100)
        try within(joinMaxAttempts, "joinMaxAttempts", 1...100)
        try within(maxMembers, "maxMembers", 2...(1 << 20))
        try within(maxMembersLearnedPerExchange, "maxMembersLearnedPerExchange", 1...(1 << 20))
        try within(packetOverhead, "packetOverhead", 0...1024)
        for c in BroadcastClass.allCases {
            try within(broadcastCaps[c], "broadcastCaps.\(c)", 1...(1 << 20))
        }
        try within(userEventSizeLimit, "userEventSizeLimit", 1...Limits.maxPayloadSize)
        try within(querySizeLimit, "querySizeLimit", 1...Limits.maxPayloadSize)
        try within(queryResponseSizeLimit, "queryResponseSizeLimit", 0...Limits.maxPayloadSize)
        try within(tagsSizeLimit, "tagsSizeLimit", 1...Limits.maxTagsSize)
        try within(eventWindow, "eventWindow", 1...65_536)
        try within(eventsInPushPull, "eventsInPushPull", 0...4_096)
        try within(userEventCoalescePeriod, "userEventCoalescePeriod", .zero...Self.maxInterval)
        try within(eagerFanoutExtra, "eagerFanoutExtra", 0...32)
        try within(eagerPushesPerRound, "eagerPushesPerRound", 0...65_536)
        try within(queryTimeoutMultiplier, "queryTimeoutMultiplier", 1...100)
        try within(maxQueryTimeout, "maxQueryTimeout", interval)
        try within(stateRowsPerOwner, "stateRowsPerOwner", 1...(1 << 20))
        try within(stateTables, "stateTables", 1...4_096)
        try within(stateKeySizeLimit, "stateKeySizeLimit", 1...Limits.maxStateKeyLength)
        try within(stateValueSizeLimit, "stateValueSizeLimit", 1...Limits.maxPayloadSize)
        try within(stateTombstoneAge, "stateTombstoneAge", .seconds(1)...Self.maxAge)
        try within(stateRestoreGrace, "stateRestoreGrace", .zero...Self.maxInterval)
        try within(stateTrees, "stateTrees", 0...8)
        try within(stateTreeFanout, "stateTreeFanout", 1...64)
        try within(stateLazyTrees, "stateLazyTrees", 0...8)
        try within(stateRepairWait, "stateRepairWait", .milliseconds(1)...Self.maxInterval)
        if packetBudget > 65_507 { throw SettingsError(setting: "packetBudget", reason: "must fit a UDP datagram (65507)") }
        if payloadBudget < Message.largestFixedSize {
            throw SettingsError(
                setting: "packetBudget",
                reason: "\(packetBudget) bytes minus \(packetOverhead) of overhead leaves no room for a probe")
        }
    }

    /// The longest interval or timeout a setting may hold. With the multipliers bounded too,
    /// the longest timer the core arms (a Lifeguard suspicion: interval x 100 x 100 x
    /// log10(2^20)) stays far inside the 292 years an `Instant` can count.
    public static let maxInterval: Duration = .seconds(3600)
    /// The longest age a setting may hold (reaping, gossip to the dead).
    public static let maxAge: Duration = .seconds(365 * 24 * 3600)
}

public struct SettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    public var setting: String
    public var reason: String
    public var description: String { "invalid setting \(setting): \(reason)" }
}
