/// What a node asks its shell to do.
public enum Output: Sendable {
    /// Send one datagram holding these messages; their framed sizes never exceed the payload budget.
    case datagram(to: Address, messages: [Message])
    /// Open a stream connection to `to`, send the message, and keep the connection open for the
    /// reply, which comes back as `Input.stream(…, conversation:)` with this id.
    case stream(to: Address, StreamMessage, conversation: ConversationID)
    /// Answer an inbound request on the connection it came in on, then close that connection.
    /// Replies never go to an address named inside a message, so a forged request cannot make
    /// a node dial a third party.
    case reply(conversation: ConversationID, StreamMessage)
    /// Deliver `.timer(id)` at `at` (or as soon after as the shell can).
    case timer(TimerID, at: Instant)
    /// The membership changed in this node's view.
    case event(MembershipEvent)
    /// The join with `outcome.id` finished.
    case joinCompleted(JoinOutcome)
    /// The departure has been gossiped; the shell may stop the node now.
    case leaveCompleted
    /// Input from `from` was refused for `reason` (already counted in `Counters.refusals`);
    /// for the shell's logs and metrics. One per refused item, so shells rate-limit their logs.
    case refused(Refusal, from: Address)
    /// Two live members claim one name. Reported once per claimed address.
    case nameConflict(NameConflict)
    /// A user event to deliver: once per event, this node's own included.
    case userEvent(UserEvent)
    /// The event of the `Input.fireEvent` just handled, stamped and sent.
    case eventFired(UserEvent)
    /// A query that selects this node: answer it with `Input.respond`.
    case query(IncomingQuery)
    /// A member acknowledged this node's query `id`.
    case queryAck(QueryID, from: String)
    /// A member answered this node's query `id` (once per member).
    case queryResponse(QueryID, from: String, payload: [UInt8])
    /// This node's query `id` is over; nothing more comes for it.
    case queryFinished(QueryID, QueryEnd)
    /// This node's replica of the replicated state changed.
    case rowChanged(RowChange)
    /// A caller's request was refused (already counted in `Counters.requestsRefused`).
    case requestRefused(Request, RequestError)
}

/// Which caller request `Output.requestRefused` is about.
public enum Request: Hashable, Sendable {
    case fireEvent
    case query(QueryID)
    case respond(QueryResponder)
    case setTags
    case writeRow
    case deleteRow
    case forceLeave
}

/// One stream exchange: a request and its reply, on one connection.
///
/// The core numbers its own conversations from 1 upwards; the shell numbers the connections it
/// accepts with `inbound(_:)`, which sets the top bit, so the two never collide.
public struct ConversationID: Hashable, Sendable, CustomStringConvertible {
    public let raw: UInt64

    public init(raw: UInt64) { self.raw = raw }

    static let inboundBit: UInt64 = 1 << 63

    /// The id of the `n`th connection a shell accepted.
    public static func inbound(_ n: UInt64) -> ConversationID { ConversationID(raw: n | inboundBit) }

    /// True for ids a shell made for accepted connections.
    public var isInbound: Bool { raw & Self.inboundBit != 0 }

    public var description: String { isInbound ? "in#\(raw & ~Self.inboundBit)" : "out#\(raw)" }
}

/// Names one `Input.join`, so that its `Output.joinCompleted` can be told from another's.
/// The shell picks the ids; the core only matches them.
public struct JoinID: Hashable, Sendable, CustomStringConvertible {
    public let raw: UInt64

    public init(raw: UInt64) { self.raw = raw }

    public var description: String { "join#\(raw)" }
}

/// How a join ended.
public struct JoinOutcome: Hashable, Sendable {
    /// The join this outcome ends.
    public var id: JoinID
    /// Seeds that answered; zero means the join failed.
    public var contacted: Int
    /// Set when a seed showed this node's name held by another live member: the join was
    /// refused rather than fought over with ever higher incarnations.
    public var conflict: NameConflict?

    public init(id: JoinID, contacted: Int, conflict: NameConflict? = nil) {
        self.id = id
        self.contacted = contacted
        self.conflict = conflict
    }
}

/// Two live members claim one name at different addresses.
public struct NameConflict: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    /// Where this node knows the name to live (its own address when `isSelf`).
    public var known: Address
    /// Where the other claim says it lives.
    public var claimed: Address
    /// True when the name is this node's own.
    public var isSelf: Bool

    public init(name: String, known: Address, claimed: Address, isSelf: Bool) {
        self.name = name
        self.known = known
        self.claimed = claimed
        self.isSelf = isSelf
    }

    public var description: String {
        "member name \(Limits.escaped(name)) is held at \(known) and also claimed at \(claimed)"
    }
}
