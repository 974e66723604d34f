/// Names one query this node asked, so that its acks, responses and end can be told from
/// another's. The shell picks the ids; the core only matches them.
public struct QueryID: Hashable, Sendable, CustomStringConvertible {
    public let raw: UInt64
    public init(raw: UInt64) { self.raw = raw }
    public var description: String { "query#\(raw)" }
}

/// Names one query this node received and may answer: the asker's query time, id and name.
public struct QueryResponder: Hashable, Sendable, CustomStringConvertible {
    public var time: UInt64
    public var id: UInt32
    public var origin: String

    public init(time: UInt64, id: UInt32, origin: String) {
        self.time = time
        self.id = id
        self.origin = origin
    }

    public var description: String { "\(Limits.escaped(origin))@\(time)#\(id)" }
}

/// A query delivered to this node: answer it with `Input.respond` before `deadline`.
public struct IncomingQuery: Hashable, Sendable {
    public var responder: QueryResponder
    public var name: String
    public var payload: [UInt8]
    /// When answers are no longer taken (receipt plus the query's timeout).
    public var deadline: Instant

    public var origin: String { responder.origin }
    public var time: UInt64 { responder.time }
}

/// What a node asks when it queries the cluster (Serf's `serf query`).
public struct QueryRequest: Hashable, Sendable {
    public var name: String
    public var payload: [UInt8]
    public var filters: [QueryFilter]
    /// nil: Serf's default, `gossipInterval × queryTimeoutMultiplier × ceil(log10(N + 1))`.
    public var timeout: Duration?
    public var wantsAcks: Bool
    /// Responders also send each answer through this many random members (0...5).
    public var relayFactor: Int

    public init(
        name: String, payload: [UInt8] = [], filters: [QueryFilter] = [], timeout: Duration? = nil, wantsAcks: Bool = true,
        relayFactor: Int = 0
    ) {
        self.name = name
        self.payload = payload
        self.filters = filters
        self.timeout = timeout
        self.wantsAcks = wantsAcks
        self.relayFactor = relayFactor
    }

    /// Relays a responder may ask for: Serf bounds its relay factor the same way.
    public static let maxRelayFactor = 5
}

/// How a query this node asked ended.
public enum QueryEnd: Hashable, Sendable, CustomStringConvertible {
    /// Every member the filters selected when it was asked, and still live, has answered.
    case allResponded
    /// The timeout passed first; `missing` selected members had not answered.
    case timeout(missing: Int)

    public var description: String {
        switch self {
        case .allResponded: "all-responded"
        case .timeout(let missing): "timeout (\(missing) selected members did not answer)"
        }
    }
}

/// Queries: the query clock, the dedupe buffer, the queries this node asked (waiting for
/// answers) and those it received (which it may still answer, once each).
struct Queries: Sendable {
    struct Asked: Sendable {
        var id: QueryID
        var message: QueryMessage
        /// Selected members that have not answered yet.
        var waiting: Set<String>
        var acked: Set<String> = []
        var answered: Set<String> = []
        let token: UInt64
    }

    struct Answerable: Sendable {
        var deadline: Instant
        var relayFactor: UInt8
        var originAddress: Address
        var answered = false
    }

    var clock: LamportClock
    var seen: RecentStamps
    /// By (time, wire id): what a response names.
    var asked: [QueryKey: Asked] = [:]
    var answerable: [QueryResponder: Answerable] = [:]
    let maxOpen: Int

    struct QueryKey: Hashable, Sendable {
        var time: UInt64
        var id: UInt32
    }

    init(window: Int, maxOpen: Int, clock: UInt64 = 0) {
        self.clock = LamportClock(next: clock)
        self.seen = RecentStamps(window: window, floor: clock)
        self.maxOpen = maxOpen
    }

    /// The asked query whose deadline timer has `token`.
    func asked(token: UInt64) -> QueryKey? {
        asked.first { $0.value.token == token }?.key
    }

    /// Forgets the answerable queries whose deadline has passed.
    mutating func expire(now: Instant) {
        if answerable.isEmpty { return }
        answerable = answerable.filter { $0.value.deadline > now }
    }
}
