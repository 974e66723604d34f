/// Joins in flight. Each join (`Input.join(seeds:id:)`) has its own conversations, one per
/// seed and attempt, and its own retry timer, so a second join runs beside the first instead of
/// replacing it, and each ends with its own `Output.joinCompleted`.
struct JoinProcess: Sendable {
    private var joins: [JoinID: JoinAttempt] = [:]
    private var byConversation: [ConversationID: JoinID] = [:]
    private var byRetryToken: [UInt64: JoinID] = [:]

    var count: Int { joins.count }

    /// Starts a join; one already running under the same id is forgotten without an outcome.
    mutating func begin(_ id: JoinID, seeds: [Address], replayEvents: Bool) {
        forget(id)
        joins[id] = JoinAttempt(seeds: seeds, replayEvents: replayEvents)
    }

    /// Whether the join `id` delivers the user events its seeds hold.
    func replaysEvents(_ id: JoinID) -> Bool { joins[id]?.replayEvents ?? true }

    /// The join's seeds, for an attempt about to be sent; clears the previous attempt's tally.
    mutating func startAttempt(_ id: JoinID) -> (seeds: [Address], attempt: Int)? {
        guard var j = joins[id] else { return nil }
        for c in j.pending.keys { byConversation[c] = nil }
        j.pending.removeAll()
        j.answered = 0
        j.failed = 0
        joins[id] = j
        return (j.seeds, j.attempt)
    }

    mutating func sent(_ id: JoinID, to seed: Address, conversation c: ConversationID) {
        joins[id]?.pending[c] = seed
        byConversation[c] = id
    }

    mutating func armedRetry(_ id: JoinID, token: UInt64) {
        if let old = joins[id]?.retryToken { byRetryToken[old] = nil }
        joins[id]?.retryToken = token
        byRetryToken[token] = id
    }

    /// The join a conversation belongs to, if it is one of a join's.
    func join(of c: ConversationID) -> JoinID? { byConversation[c] }

    /// What a join's retry timer decides.
    enum RetryDecision {
        case complete(contacted: Int)
        case giveUp
        case retry
    }

    /// The join whose retry timer this is, and what to do; nil for a stale timer.
    mutating func retryFired(token: UInt64, maxAttempts: Int) -> (JoinID, RetryDecision)? {
        guard let id = byRetryToken.removeValue(forKey: token), var j = joins[id] else { return nil }
        j.retryToken = nil
        if j.answered > 0 {
            joins[id] = j
            return (id, .complete(contacted: j.answered))
        }
        if j.attempt >= maxAttempts {
            joins[id] = j
            return (id, .giveUp)
        }
        j.attempt += 1
        joins[id] = j
        return (id, .retry)
    }

    /// A seed answered; returns the count of answers when every seed of the attempt has been heard from.
    mutating func answered(_ c: ConversationID) -> (JoinID, done: Int?)? {
        guard let id = byConversation.removeValue(forKey: c), var j = joins[id], j.pending.removeValue(forKey: c) != nil
        else { return nil }
        j.answered += 1
        joins[id] = j
        return (id, j.answered + j.failed >= j.seeds.count ? j.answered : nil)
    }

    /// A seed's conversation failed; returns the count of answers when that completes the join.
    /// With no answer at all the join waits for its retry timer rather than hammering the seeds.
    mutating func failed(_ c: ConversationID) -> (JoinID, done: Int?)? {
        guard let id = byConversation.removeValue(forKey: c), var j = joins[id], j.pending.removeValue(forKey: c) != nil
        else { return nil }
        j.failed += 1
        joins[id] = j
        return (id, j.answered > 0 && j.answered + j.failed >= j.seeds.count ? j.answered : nil)
    }

    /// Forgets a join and everything that points at it.
    mutating func forget(_ id: JoinID) {
        guard let j = joins.removeValue(forKey: id) else { return }
        for c in j.pending.keys { byConversation[c] = nil }
        if let t = j.retryToken { byRetryToken[t] = nil }
    }
}

/// One join: its seeds and the tally of its current attempt.
struct JoinAttempt: Sendable {
    var seeds: [Address]
    var replayEvents: Bool
    /// This attempt's exchanges, one per seed.
    var pending: [ConversationID: Address] = [:]
    var answered = 0
    var failed = 0
    var attempt = 1
    var retryToken: UInt64?
}
