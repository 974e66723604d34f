/// What drives a node: everything that happens to it arrives as one of these, with the time.
public enum Input: Sendable {
    /// Arms the periodic timers; handled once, right after creation.
    case start
    /// Joins the cluster through these seed addresses (a full state exchange with each). The
    /// join ends with one `Output.joinCompleted` carrying the same `id`; joins with different
    /// ids run side by side, each with its own conversations and retries.
    ///
    /// A node that joins takes the cluster's event clock but does not deliver the user events
    /// fired before it joined, unless `replayEvents` (Serf's `join -replay`).
    case join(seeds: [Address], id: JoinID, replayEvents: Bool = false)
    /// Leaves gracefully: the cluster is told "left", not "failed".
    case leave
    /// Serf's `force-leave`: announces that the failed `member` left, on its behalf, so every
    /// member reports `.left` now; with `prune` this node also forgets it at once (`.reaped`).
    /// Refused (`Output.requestRefused(.forceLeave, _)`) with `unknownMember` for a name not
    /// known or this node's own, `memberNotFailed` for an alive or suspect member. A member
    /// that already left is not announced again (with `prune` it is forgotten).
    case forceLeave(member: String, prune: Bool)
    /// Replaces this node's tags and announces them.
    case setTags(Tags)
    /// Fires a user event (checked first with `Settings.check(userEvent:payload:)`); the node
    /// answers with `Output.eventFired`, or `Output.requestRefused`.
    case fireEvent(name: String, payload: [UInt8], coalesce: Bool)
    /// Asks the cluster a query; acks, responses and the end come back as outputs with `id`.
    case query(QueryRequest, id: QueryID)
    /// Answers a query delivered by `Output.query`, once, before its deadline.
    case respond(to: QueryResponder, payload: [UInt8])
    /// Writes one of this node's replicated-state rows (checked first with
    /// `Settings.check(row:key:value:)`); the replica reports it as `Output.rowChanged` and the
    /// row goes out at once, or the node answers `Output.requestRefused`.
    case writeRow(table: String, key: String, value: [UInt8])
    /// Deletes one of this node's rows (a tombstone); nothing happens if it holds none live.
    case deleteRow(table: String, key: String)
    /// A decoded datagram; `from` is the address it came from (where replies go).
    case datagram(from: Address, messages: [Message])
    /// A message that arrived over a stream connection: a request on a connection the peer
    /// opened (`conversation` is the shell's inbound id), or the reply to this node's own
    /// request (`conversation` is the id of its `Output.stream`).
    case stream(from: Address, StreamMessage, conversation: ConversationID)
    /// One of this node's own conversations ended without a reply: the connection could not be
    /// opened or written, the message could not be encoded, or the peer closed it unanswered.
    case streamFailed(conversation: ConversationID)
    /// The kernel reported a datagram this node sent to `address` refused: ICMP (or ICMPv6)
    /// port unreachable, quoting `address` as the destination. Evidence, unauthenticated, that
    /// the member there has crashed: it hastens a suspicion of a member this node is probing
    /// at that address, and is ignored otherwise (`Counters.unreachableIgnored`).
    case unreachable(Address)
    /// A timer armed earlier by an `Output.timer` has expired.
    case timer(TimerID)
}
