/// What a queued update is about. The key decides both the update's class and which older
/// update it replaces: a newer update about member `x` replaces the older one, a user event
/// never replaces another, a state row replaces the older version of the same row.
public enum BroadcastKey: Hashable, Sendable {
    case member(String)
    case query(time: UInt64, origin: String)
    case userEvent(time: UInt64, origin: String)
    /// Boxed: a key waits beside each queued update, and this case alone is three strings.
    indirect case state(table: String, owner: String, key: String)

    public var broadcastClass: BroadcastClass {
        switch self {
        case .member: .membership
        case .query: .query
        case .userEvent: .userEvent
        case .state: .state
        }
    }
}

/// Classes of updates, in the fixed priority order in which they fill a datagram.
///
/// Membership comes first because suspicions and refutations decide false positives; then
/// queries (someone is waiting for the answers), user events, and replicated-state rows (which
/// anti-entropy repairs anyway). memberlist and Serf fill packets in the same order.
public enum BroadcastClass: Int, CaseIterable, Sendable, CustomStringConvertible {
    case membership = 0
    case query = 1
    case userEvent = 2
    case state = 3

    public var description: String {
        switch self {
        case .membership: "membership"
        case .query: "query"
        case .userEvent: "user_event"
        case .state: "state"
        }
    }
}

/// How many updates each class may hold; past it, the most-sent updates are dropped first.
public struct BroadcastCaps: Sendable, Equatable {
    /// One entry per member at most in practice; the cap only guards against a bug.
    public var membership: Int = 1 << 20
    /// Serf prunes its query and event queues above 4,096 entries (serf.Config.MaxQueueDepth).
    public var query: Int = 4_096
    public var userEvent: Int = 4_096
    /// Rows dropped here are repaired by anti-entropy, which costs what differs; a deeper queue
    /// only holds rows that gossip has already sent most of their copies of.
    public var state: Int = 4_096

    public init() {}

    public subscript(c: BroadcastClass) -> Int {
        switch c {
        case .membership: membership
        case .query: query
        case .userEvent: userEvent
        case .state: state
        }
    }
}

/// Every queued update, one `BroadcastQueue` per class, and how they share a datagram.
///
/// An update of one class never replaces one of another (keys differ by class), and a class
/// never starves another, in either direction: membership fills a datagram first but, while any
/// other class has updates waiting, takes at most three quarters of the space left, and the
/// other classes fill the rest in priority order. A flood of user events therefore cannot delay
/// a suspicion or a refutation, and a churning membership cannot keep user events from leaving.
struct Broadcasts: Sendable {
    private var queues = [BroadcastQueue](repeating: BroadcastQueue(), count: BroadcastClass.allCases.count)
    let caps: BroadcastCaps
    /// Updates dropped by the caps, by class.
    private(set) var dropped = [Int](repeating: 0, count: BroadcastClass.allCases.count)

    init(caps: BroadcastCaps) { self.caps = caps }

    /// Updates waiting, in all classes.
    var count: Int { queues.reduce(0) { $0 + $1.count } }

    func count(of c: BroadcastClass) -> Int { queues[c.rawValue].count }

    /// Bytes of the queues' arrays (`BroadcastQueue.footprint`).
    var footprint: Int { queues.reduce(0) { $0 + $1.footprint } }

    func isPending(_ message: Message, key: BroadcastKey) -> Bool {
        queues[key.broadcastClass.rawValue].isPending(message, key: key)
    }

    mutating func enqueue(_ message: Message, key: BroadcastKey, pushed: Int = 0) {
        let c = key.broadcastClass.rawValue
        queues[c].enqueue(message, key: key, pushed: pushed)
        let cap = caps[key.broadcastClass]
        // An eighth below the cap, so that a queue held at its cap by a flood trims once per
        // cap/8 updates rather than shifting its buckets on every one.
        if queues[c].count > cap { dropped[c] += queues[c].trim(toAtMost: cap - cap / 8) }
    }

    /// The share of a datagram membership may take while other classes wait, in quarters.
    static let membershipShare = 3

    /// `limit` is the retransmit limit; an update pushed eagerly has its pushes counted against it.
    mutating func fill(into messages: inout [Message], budget: inout Int, limit: Int) {
        var othersWaiting = false
        for c in 1..<queues.count where queues[c].count > 0 { othersWaiting = true }
        guard othersWaiting else {
            return queues[BroadcastClass.membership.rawValue].fill(into: &messages, budget: &budget, limit: limit)
        }
        // Each queue is filled once per datagram: a queue filled twice could carry one update twice.
        var share = budget / 4 * Self.membershipShare
        let granted = share
        queues[BroadcastClass.membership.rawValue].fill(into: &messages, budget: &share, limit: limit)
        budget -= granted - share
        for c in BroadcastClass.allCases.dropFirst() {
            queues[c.rawValue].fill(into: &messages, budget: &budget, limit: limit)
        }
    }
}
