/// What drives a node: everything that happens to it arrives as one of these, with the time.
public enum Input: Sendable {
    /// Arms the periodic timers; handled once, right after creation.
    case start
    /// Joins the cluster through these seed addresses (a full state exchange with each).
    case join(seeds: [Address])
    /// Leaves gracefully: the cluster is told "left", not "failed".
    case leave
    /// Replaces this node's tags and announces them.
    case setTags(Tags)
    /// A decoded datagram.
    case datagram(from: Address, messages: [Message])
    /// A message that arrived over a stream connection.
    case stream(from: Address, StreamMessage)
    /// A stream message could not be delivered (connection refused, reset, timed out).
    case streamFailed(to: Address)
    /// A timer armed earlier by an `Output.timer` has expired.
    case timer(TimerID)
}

/// What a node asks its shell to do.
public enum Output: Sendable {
    /// Send one datagram holding these messages; their framed sizes never exceed the payload budget.
    case datagram(to: Address, messages: [Message])
    /// Send one message over a stream connection.
    case stream(to: Address, StreamMessage)
    /// Deliver `.timer(id)` at `at` (or as soon after as the shell can).
    case timer(TimerID, at: Instant)
    /// The membership changed in this node's view.
    case event(MembershipEvent)
    /// A join attempt finished: how many seeds answered (zero means it gave up).
    case joinCompleted(contacted: Int)
    /// The departure has been gossiped; the shell may stop the node now.
    case leaveCompleted
}

/// A timer, as data. A node ignores an expired timer it no longer wants, so the shell never
/// needs to cancel one.
public struct TimerID: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: UInt8, Sendable {
        case probe, gossip, pushPull, reconnect, probeTimeout, probeDeadline, indirectTimeout, suspicion
        case joinRetry, leaveDeadline
    }

    public var kind: Kind
    /// Tells apart successive timers of one kind (a probe's sequence number, a suspicion's id...).
    public var token: UInt64

    public init(kind: Kind, token: UInt64) {
        self.kind = kind
        self.token = token
    }

    public var description: String { "\(kind)#\(token)" }
}
