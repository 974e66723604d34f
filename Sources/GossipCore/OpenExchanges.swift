/// Push/pull exchanges spread over several frames, by conversation, from their first frame to
/// their last: how many new members each may still add (`Settings.maxMembersLearnedPerExchange`
/// holds for the whole exchange, not per frame), and whether the rest is to be ignored.
struct OpenExchanges: Sendable {
    struct Exchange: Sendable {
        var learnBudget: Int
        var ignoring = false
        /// The peer's replicated-state digest, gathered over the exchange's frames: what it
        /// lacks is known only after the last.
        var peerDigest: [String: OwnerDigest] = [:]
        /// The exchange carried a digest (its sender holds replicated state).
        var hasDigest = false
        /// The exchange carried members (a full exchange, answered with this node's state);
        /// a follow-up of rows alone gets an empty reply.
        var isFullState = false
    }

    private var open: [ConversationID: Exchange] = [:]
    /// Exchanges open at once at most. Honest peers hold one per connection, and the shell
    /// bounds connections; the bound only keeps a flood of half-sent exchanges from growing.
    static let maxOpen = 64

    var count: Int { open.count }

    /// The exchange `c` continues, or a new one with `budget`; nil when a new exchange that
    /// stays open (`more`) would exceed `maxOpen`.
    func current(_ c: ConversationID, budget: Int, more: Bool) -> Exchange? {
        if let e = open[c] { return e }
        return !more || open.count < Self.maxOpen ? Exchange(learnBudget: budget) : nil
    }

    func isOpen(_ c: ConversationID) -> Bool { open[c] != nil }

    /// Keeps the exchange open for its next frame, or closes it after its last.
    mutating func record(_ c: ConversationID, _ e: Exchange, more: Bool) {
        open[c] = more ? e : nil
    }

    /// Forgets an exchange that ended before its last frame; true if one was open.
    mutating func abandon(_ c: ConversationID) -> Bool {
        open.removeValue(forKey: c) != nil
    }
}
