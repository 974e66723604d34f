/// One member as a node sees it.
public struct Member: Hashable, Sendable, CustomStringConvertible {
    /// Names are short identifiers; the limit keeps every probe message inside any sane budget.
    public static let maxNameLength = Limits.maxNameLength

    public var name: String
    public var address: Address
    public var incarnation: UInt64
    public var status: MemberStatus
    public var tags: Tags
    /// When this node last saw the status change; drives reaping and gossip to the dead.
    public var statusChangedAt: Instant

    public init(
        name: String, address: Address, incarnation: UInt64, status: MemberStatus, tags: Tags,
        statusChangedAt: Instant
    ) {
        self.name = name
        self.address = address
        self.incarnation = incarnation
        self.status = status
        self.tags = tags
        self.statusChangedAt = statusChangedAt
    }

    public var state: MemberState {
        MemberState(name: name, address: address, incarnation: incarnation, status: status, tags: tags)
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
