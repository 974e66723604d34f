/// What drives a node: everything that happens to it arrives as one of these, with the time.
public enum Input: Sendable {
    /// Arms the periodic timers; handled once, right after creation.
    case start
    /// Joins the cluster through these seed addresses (a full state exchange with each). The
    /// join ends with one `Output.joinCompleted` carrying the same `id`; joins with different
    /// ids run side by side, each with its own conversations and retries.
    case join(seeds: [Address], id: JoinID)
    /// Leaves gracefully: the cluster is told "left", not "failed".
    case leave
    /// Replaces this node's tags and announces them.
    case setTags(Tags)
    /// A decoded datagram; `from` is the address it came from (where replies go).
    case datagram(from: Address, messages: [Message])
    /// A message that arrived over a stream connection: a request on a connection the peer
    /// opened (`conversation` is the shell's inbound id), or the reply to this node's own
    /// request (`conversation` is the id of its `Output.stream`).
    case stream(from: Address, StreamMessage, conversation: ConversationID)
    /// One of this node's own conversations ended without a reply: the connection could not be
    /// opened or written, the message could not be encoded, or the peer closed it unanswered.
    case streamFailed(conversation: ConversationID)
    /// A timer armed earlier by an `Output.timer` has expired.
    case timer(TimerID)
}
