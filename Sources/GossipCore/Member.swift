/// One member as a node sees it.
///
/// 24 bytes beside the `MemberIdentity` it shares with the messages it was learned from and
/// with every other node's entry for the member. A node's table does not hold these: it keeps
/// the same fields in parallel arrays (`MemberTable`) and makes a `Member` when asked.
public struct Member: Hashable, Sendable, CustomStringConvertible {
    /// Names are short identifiers; the limit keeps every probe message inside any sane budget.
    public static let maxNameLength = Limits.maxNameLength

    var identity: MemberIdentity
    public var status: MemberStatus
    /// When this node last saw the status change; drives reaping and gossip to the dead.
    public var statusChangedAt: Instant

    public init(
        name: String, address: Address, incarnation: UInt64, status: MemberStatus, tags: Tags,
        statusChangedAt: Instant
    ) {
        self.identity = MemberIdentity(name: name, address: address, incarnation: incarnation, tags: tags)
        self.status = status
        self.statusChangedAt = statusChangedAt
    }

    init(_ identity: MemberIdentity, status: MemberStatus, statusChangedAt: Instant) {
        self.identity = identity
        self.status = status
        self.statusChangedAt = statusChangedAt
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

    public var state: MemberState { MemberState(identity, status: status) }

    public static func == (a: Member, b: Member) -> Bool {
        a.status == b.status && a.statusChangedAt == b.statusChangedAt && a.identity.sameValues(as: b.identity)
    }

    public func hash(into h: inout Hasher) {
        identity.hash(into: &h)
        h.combine(status)
        h.combine(statusChangedAt)
    }

    public var description: String { "\(name)@\(address)#\(incarnation) \(status)" }
}

/// A change in one node's view of the membership, in the terms Serf users know.
public struct MembershipEvent: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: UInt8, Sendable, Hashable {
        /// A member became known, or came back after failing or leaving.
        case joined
        /// A live member changed its tags.
        case updated
        /// A member is suspected (not a Serf event; for metrics and logs).
        case suspected
        /// A suspected member refuted the suspicion and is alive again. Without it a view kept
        /// from events would show the member suspect until something else happened.
        case recovered
        /// A member was declared failed.
        case failed
        /// A member left gracefully.
        case left
        /// A failed or departed member was forgotten.
        case reaped
    }

    public var kind: Kind
    public var member: Member

    public init(kind: Kind, member: Member) {
        self.kind = kind
        self.member = member
    }

    public var description: String { "\(kind) \(member)" }
}
