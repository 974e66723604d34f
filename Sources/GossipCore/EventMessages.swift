/// A user event: a name and a payload that every member delivers exactly once (Serf's
/// `serf event`). Identified by its Lamport time on the event clock and its origin's name.
public struct UserEvent: Hashable, Sendable {
    /// The event clock's time when the origin fired it.
    public var time: UInt64
    /// The member that fired it.
    public var origin: String
    public var name: String
    public var payload: [UInt8]
    /// The origin allows receivers to deliver only the newest of same-named events held over
    /// `Settings.userEventCoalescePeriod` (Serf's `-coalesce`).
    public var coalesce: Bool

    public init(time: UInt64, origin: String, name: String, payload: [UInt8], coalesce: Bool) {
        self.time = time
        self.origin = origin
        self.name = name
        self.payload = payload
        self.coalesce = coalesce
    }
}

/// Which members a query addresses. Every filter of a query must hold.
public enum QueryFilter: Hashable, Sendable, CustomStringConvertible {
    /// Members whose name is one of these, exactly.
    case nodes([String])
    /// Members whose tag `key` matches `pattern` as a whole (anchored at both ends, unlike
    /// Serf's unanchored match, where `role=web` also selects `role=webhook`). A member without
    /// the tag does not match.
    case tag(key: String, pattern: FilterPattern)

    public func matches(name: String, tags: Tags) -> Bool {
        switch self {
        case .nodes(let names): names.contains(name)
        case .tag(let key, let pattern): tags[key].map { pattern.matches($0) } ?? false
        }
    }

    public var description: String {
        switch self {
        case .nodes(let names): "nodes=" + names.map { Limits.escaped($0) }.joined(separator: ",")
        case .tag(let key, let pattern): "tag \(Limits.escaped(key))=\(Limits.escaped(pattern.source))"
        }
    }
}

/// A query as it travels by gossip and eager push: Serf's query message.
public struct QueryMessage: Hashable, Sendable {
    /// The query clock's time at the asker.
    public var time: UInt64
    /// A random number the asker draws, so that responses cannot be matched by guessing the time.
    public var id: UInt32
    /// The asker's name and address; responses go to the address the asker is known at, which
    /// must equal this one.
    public var origin: String
    public var originAddress: Address
    public var wantsAck: Bool
    /// Each responder also sends its answer through this many random members (for lossy paths).
    public var relayFactor: UInt8
    /// How long responders may answer after receiving it, in milliseconds.
    public var timeoutMilliseconds: UInt64
    public var filters: [QueryFilter]
    public var name: String
    public var payload: [UInt8]

    public init(
        time: UInt64, id: UInt32, origin: String, originAddress: Address, wantsAck: Bool, relayFactor: UInt8,
        timeoutMilliseconds: UInt64, filters: [QueryFilter], name: String, payload: [UInt8]
    ) {
        self.time = time
        self.id = id
        self.origin = origin
        self.originAddress = originAddress
        self.wantsAck = wantsAck
        self.relayFactor = relayFactor
        self.timeoutMilliseconds = timeoutMilliseconds
        self.filters = filters
        self.name = name
        self.payload = payload
    }

    /// Whether the member `name` with `tags` is addressed.
    public func selects(name: String, tags: Tags) -> Bool {
        filters.allSatisfy { $0.matches(name: name, tags: tags) }
    }
}

/// An ack or a response to a query, sent straight to the asker (or through a relay).
public struct QueryResponse: Hashable, Sendable {
    public var time: UInt64
    public var id: UInt32
    /// The asker.
    public var origin: String
    /// The responder.
    public var from: String
    /// An ack ("received, filters pass") rather than an answer; carries no payload.
    public var isAck: Bool
    public var payload: [UInt8]

    public init(time: UInt64, id: UInt32, origin: String, from: String, isAck: Bool, payload: [UInt8]) {
        self.time = time
        self.id = id
        self.origin = origin
        self.from = from
        self.isAck = isAck
        self.payload = payload
    }
}

/// A response a responder sends through a random member, which forwards it to the asker at the
/// address it knows the asker by (never one named in the message).
public struct QueryRelay: Hashable, Sendable {
    public var response: QueryResponse
    public init(response: QueryResponse) { self.response = response }
}
