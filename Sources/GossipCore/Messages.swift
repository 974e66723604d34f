/// A member's status in one node's view. Within one incarnation the order is
/// alive < suspect < failed < left: a later status wins, a higher incarnation wins over any.
public enum MemberStatus: UInt8, Sendable, Comparable, CustomStringConvertible {
    case alive = 0
    case suspect = 1
    case failed = 2
    case left = 3

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .alive: "alive"
        case .suspect: "suspect"
        case .failed: "failed"
        case .left: "left"
        }
    }
}

/// SWIM probe: "are you there?". Carries the target's name so that a ping that reaches
/// a different node at a reused address is not acknowledged.
public struct Ping: Hashable, Sendable {
    public var sequence: UInt32
    public var target: String
    public var source: String
    public var sourceAddress: Address

    public init(sequence: UInt32, target: String, source: String, sourceAddress: Address) {
        self.sequence = sequence
        self.target = target
        self.source = source
        self.sourceAddress = sourceAddress
    }
}

/// SWIM ping-req: asks a helper to probe `target` on the requester's behalf.
public struct IndirectPing: Hashable, Sendable {
    public var sequence: UInt32
    public var target: String
    public var targetAddress: Address
    public var requester: String
    public var requesterAddress: Address
    /// Lifeguard: the helper answers with a nack if the target does not ack in time.
    public var wantsNack: Bool

    public init(
        sequence: UInt32, target: String, targetAddress: Address, requester: String,
        requesterAddress: Address, wantsNack: Bool
    ) {
        self.sequence = sequence
        self.target = target
        self.targetAddress = targetAddress
        self.requester = requester
        self.requesterAddress = requesterAddress
        self.wantsNack = wantsNack
    }
}

public struct Ack: Hashable, Sendable {
    public var sequence: UInt32
    public init(sequence: UInt32) { self.sequence = sequence }
}

/// Lifeguard: "I could not reach the target either" from an indirect-probe helper; a missing
/// nack tells the requester that its own network may be the problem.
public struct Nack: Hashable, Sendable {
    public var sequence: UInt32
    public init(sequence: UInt32) { self.sequence = sequence }
}

public struct Alive: Hashable, Sendable {
    public var incarnation: UInt64
    public var name: String
    public var address: Address
    public var tags: Tags

    public init(incarnation: UInt64, name: String, address: Address, tags: Tags) {
        self.incarnation = incarnation
        self.name = name
        self.address = address
        self.tags = tags
    }
}

public struct Suspect: Hashable, Sendable {
    public var incarnation: UInt64
    public var name: String
    /// The accuser; Lifeguard counts distinct accusers as independent confirmations.
    public var from: String

    public init(incarnation: UInt64, name: String, from: String) {
        self.incarnation = incarnation
        self.name = name
        self.from = from
    }
}

/// A member declared failed, or, when `left` is set, departed of its own will.
public struct Dead: Hashable, Sendable {
    public var incarnation: UInt64
    public var name: String
    public var from: String
    public var left: Bool

    public init(incarnation: UInt64, name: String, from: String, left: Bool) {
        self.incarnation = incarnation
        self.name = name
        self.from = from
        self.left = left
    }
}

/// One message of a datagram. A datagram carries one or more of these (a compound packet).
public enum Message: Hashable, Sendable {
    case ping(Ping)
    case indirectPing(IndirectPing)
    case ack(Ack)
    case nack(Nack)
    case alive(Alive)
    case suspect(Suspect)
    case dead(Dead)
    case userEvent(UserEvent)
    case query(QueryMessage)
    case queryResponse(QueryResponse)
    case relay(QueryRelay)
    /// A replicated-state row, gossiped and pushed eagerly by class `.state`.
    case stateRow(StateRow)
}

/// One member's full state, as exchanged by push/pull anti-entropy.
public struct MemberState: Hashable, Sendable {
    public var name: String
    public var address: Address
    public var incarnation: UInt64
    public var status: MemberStatus
    public var tags: Tags

    public init(name: String, address: Address, incarnation: UInt64, status: MemberStatus, tags: Tags) {
        self.name = name
        self.address = address
        self.incarnation = incarnation
        self.status = status
        self.tags = tags
    }
}

/// A message too large for a datagram, carried over a stream connection.
public enum StreamMessage: Hashable, Sendable {
    case pushPull(PushPull)
}
