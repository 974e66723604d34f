/// What waits to be gossiped: the queues by broadcast class (`Broadcasts`), whether a locally
/// made update asks for a gossip round at once, and how often each update is retransmitted.
struct Dissemination: Sendable {
    private var broadcasts: Broadcasts
    /// A locally made update is waiting: the router runs a gossip round at the end of the input.
    private var sendNow = false
    let retransmitMultiplier: Int

    init(caps: BroadcastCaps, retransmitMultiplier: Int) {
        broadcasts = Broadcasts(caps: caps)
        self.retransmitMultiplier = retransmitMultiplier
    }

    /// Updates waiting, in all classes.
    var count: Int { broadcasts.count }

    func count(of c: BroadcastClass) -> Int { broadcasts.count(of: c) }

    var footprint: Int { broadcasts.footprint }

    func dropped(of c: BroadcastClass) -> Int { broadcasts.dropped[c.rawValue] }

    func isPending(_ message: Message, key: BroadcastKey) -> Bool { broadcasts.isPending(message, key: key) }

    /// Queues an update, replacing the older one about `key`; `sendNow` for updates this node
    /// made itself (suspicions it raised, its refutations, its departure).
    mutating func enqueue(_ message: Message, key: BroadcastKey, sendNow now: Bool = false, pushed: Int = 0) {
        if now { sendNow = true }
        broadcasts.enqueue(message, key: key, pushed: pushed)
    }

    /// Retransmissions per update in a cluster of `liveCount` members.
    func retransmitLimit(liveCount: Int) -> Int {
        Formulas.retransmitLimit(multiplier: retransmitMultiplier, members: liveCount)
    }

    /// Appends queued updates while they fit in `budget`.
    mutating func fill(into messages: inout [Message], budget: inout Int, liveCount: Int) {
        broadcasts.fill(into: &messages, budget: &budget, limit: retransmitLimit(liveCount: liveCount))
    }

    /// Whether a round is due at once; clears the request.
    mutating func takeSendNow() -> Bool {
        defer { sendNow = false }
        return sendNow
    }
}
