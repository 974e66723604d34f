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
    /// Shared with the table entries made from it (`MemberIdentity`).
    var identity: MemberIdentity

    public init(incarnation: UInt64, name: String, address: Address, tags: Tags) {
        identity = MemberIdentity(name: name, address: address, incarnation: incarnation, tags: tags)
    }

    init(_ identity: MemberIdentity) { self.identity = identity }

    public var incarnation: UInt64 {
        get { identity.incarnation }
        set { if newValue != identity.incarnation { identity = identity.with(incarnation: newValue) } }
    }
    public var name: String {
        get { identity.name }
        set { if newValue != identity.name { identity = identity.with(name: newValue) } }
    }
    public var address: Address {
        get { identity.address }
        set { if newValue != identity.address { identity = identity.with(address: newValue) } }
    }
    public var tags: Tags {
        get { identity.tags }
        set { if newValue != identity.tags { identity = identity.with(tags: newValue) } }
    }

    public static func == (a: Alive, b: Alive) -> Bool { a.identity.sameValues(as: b.identity) }
    public func hash(into h: inout Hasher) { identity.hash(into: &h) }
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
///
/// Every case larger than a word is boxed (`indirect`), and `Alive` is a box already: a
/// message is 8 bytes wherever it waits (a broadcast queue holds one per known member during a
/// join storm), and the copies a node forwards share their payload.
public enum Message: Hashable, Sendable {
    indirect case ping(Ping)
    indirect case indirectPing(IndirectPing)
    case ack(Ack)
    case nack(Nack)
    case alive(Alive)
    indirect case suspect(Suspect)
    indirect case dead(Dead)
    indirect case userEvent(UserEvent)
    indirect case query(QueryMessage)
    indirect case queryResponse(QueryResponse)
    indirect case relay(QueryRelay)
    /// A replicated-state row, gossiped and pushed eagerly by class `.state`.
    indirect case stateRow(StateRow)
    /// The newest version of an owner's rows the sender holds, announced lazily along the
    /// state trees (Plumtree's IHAVE): a replica holding less asks for the rest
    /// (`StateRepair.swift`).
    indirect case stateNewest(StateNewest)
}

/// One member's full state, as exchanged by push/pull anti-entropy.
public struct MemberState: Hashable, Sendable {
    /// Shared with the table entry it was made from or makes (`MemberIdentity`).
    var identity: MemberIdentity
    public var status: MemberStatus

    public init(name: String, address: Address, incarnation: UInt64, status: MemberStatus, tags: Tags) {
        identity = MemberIdentity(name: name, address: address, incarnation: incarnation, tags: tags)
        self.status = status
    }

    init(_ identity: MemberIdentity, status: MemberStatus) {
        self.identity = identity
        self.status = status
    }

    public var name: String {
        get { identity.name }
        set { if newValue != identity.name { identity = identity.with(name: newValue) } }
    }
    public var address: Address {
        get { identity.address }
        set { if newValue != identity.address { identity = identity.with(address: newValue) } }
    }
    public var incarnation: UInt64 {
        get { identity.incarnation }
        set { if newValue != identity.incarnation { identity = identity.with(incarnation: newValue) } }
    }
    public var tags: Tags {
        get { identity.tags }
        set { if newValue != identity.tags { identity = identity.with(tags: newValue) } }
    }

    public static func == (a: MemberState, b: MemberState) -> Bool { a.status == b.status && a.identity.sameValues(as: b.identity) }
    public func hash(into h: inout Hasher) {
        identity.hash(into: &h)
        h.combine(status)
    }
}

/// A message too large for a datagram, carried over a stream connection.
public enum StreamMessage: Hashable, Sendable {
    case pushPull(PushPull)
}
