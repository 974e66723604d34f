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
    /// Bytes of each datagram taken by headers and sealing; set by the wire layer.
    public var packetOverhead: Int = 0
    /// Lifeguard on (local health, dynamic suspicion, buddy probes) or plain SWIM.
    public var lifeguard: Bool = true

    public init() {}

    /// Bytes available to messages in one datagram.
    public var payloadBudget: Int { packetBudget - packetOverhead }

    public func validate() throws(SettingsError) {
        func positive(_ d: Duration, _ name: String) throws(SettingsError) {
            if d <= .zero { throw SettingsError(setting: name, reason: "must be positive, got \(d)") }
        }
        try positive(probeInterval, "probeInterval")
        try positive(probeTimeout, "probeTimeout")
        try positive(gossipInterval, "gossipInterval")
        try positive(pushPullInterval, "pushPullInterval")
        try positive(reconnectInterval, "reconnectInterval")
        try positive(joinRetryInterval, "joinRetryInterval")
        try positive(leavePropagationTimeout, "leavePropagationTimeout")
        if gossipToTheDead < .zero { throw SettingsError(setting: "gossipToTheDead", reason: "must not be negative") }
        if reapFailedAfter < .zero { throw SettingsError(setting: "reapFailedAfter", reason: "must not be negative") }
        if reapLeftAfter < .zero { throw SettingsError(setting: "reapLeftAfter", reason: "must not be negative") }
        if probeTimeout >= probeInterval {
            throw SettingsError(setting: "probeTimeout", reason: "must be shorter than probeInterval (\(probeInterval))")
        }
        if indirectChecks < 0 { throw SettingsError(setting: "indirectChecks", reason: "must not be negative") }
        if gossipNodes < 1 { throw SettingsError(setting: "gossipNodes", reason: "must be at least 1") }
        if suspicionMultiplier < 1 { throw SettingsError(setting: "suspicionMultiplier", reason: "must be at least 1") }
        if suspicionMaxTimeoutMultiplier < 1 {
            throw SettingsError(setting: "suspicionMaxTimeoutMultiplier", reason: "must be at least 1")
        }
        if awarenessMaxMultiplier < 1 { throw SettingsError(setting: "awarenessMaxMultiplier", reason: "must be at least 1") }
        if retransmitMultiplier < 1 { throw SettingsError(setting: "retransmitMultiplier", reason: "must be at least 1") }
        if joinMaxAttempts < 1 { throw SettingsError(setting: "joinMaxAttempts", reason: "must be at least 1") }
        if packetOverhead < 0 { throw SettingsError(setting: "packetOverhead", reason: "must not be negative") }
        if payloadBudget < Message.largestFixedSize {
            throw SettingsError(
                setting: "packetBudget",
                reason: "\(packetBudget) bytes minus \(packetOverhead) of overhead leaves no room for a probe")
        }
        if packetBudget > 65_507 { throw SettingsError(setting: "packetBudget", reason: "must fit a UDP datagram (65507)") }
    }
}

public struct SettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    public var setting: String
    public var reason: String
    public var description: String { "invalid setting \(setting): \(reason)" }
}
