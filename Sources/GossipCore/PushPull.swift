/// A full state exchange, sent over a stream (TCP) because it does not fit a datagram. A
/// request is answered by a reply carrying the responder's state.
///
/// The state is a list of sections, each written and merged by the part that owns it (members
/// now; user-event and query clocks and replicated-state digests next). A large exchange is
/// split over several frames of one conversation (`frames(maxBodySize:)`): every frame carries
/// the header, all but the last set `more`, and the receiver merges each frame as it arrives.
public struct PushPull: Hashable, Sendable {
    public var join: Bool
    public var isReply: Bool
    /// More frames of this exchange follow on the same conversation.
    public var more: Bool
    public var sender: String
    public var senderAddress: Address
    public var sections: [PushPullSection]

    public init(
        join: Bool, isReply: Bool, more: Bool = false, sender: String, senderAddress: Address, sections: [PushPullSection]
    ) {
        self.join = join
        self.isReply = isReply
        self.more = more
        self.sender = sender
        self.senderAddress = senderAddress
        self.sections = sections
    }

    /// An exchange holding one members section.
    public init(join: Bool, isReply: Bool, more: Bool = false, sender: String, senderAddress: Address, members: [MemberState]) {
        self.init(join: join, isReply: isReply, more: more, sender: sender, senderAddress: senderAddress, sections: [.members(members)])
    }

    /// The members of every members section, in order.
    public var members: [MemberState] {
        var all: [MemberState] = []
        for case .members(let m) in sections { all += m }
        return all
    }

    /// Sections of types this version does not know, skipped by the decoder.
    public var unknownSections: Int {
        var n = 0
        for case .unknown in sections { n += 1 }
        return n
    }
}

/// Type codes of push/pull sections. Codes are never reused; a receiver skips codes it does
/// not know (and counts them), so a newer node's sections do not break an older one.
public enum SectionType: UInt64, Sendable, CaseIterable {
    /// `MemberTable`: every member's state.
    case members = 1
    /// `UserEvents` and `Queries`: both Lamport clocks and the recent user events.
    case events = 2
    /// `ReplicatedState`: one hash per owner of the live rows held (`OwnerDigest`).
    case stateDigest = 3
    /// `ReplicatedState`: rows the other side's digest showed it may lack.
    case stateRows = 4
}

/// One part's share of a push/pull.
public enum PushPullSection: Hashable, Sendable {
    case members([MemberState])
    case events(EventsSection)
    case stateDigest([OwnerDigest])
    case stateRows([StateRow])
    /// A section of a type this version does not know; its body was skipped.
    case unknown(type: UInt64)
}

/// The event and query clocks of the sender and the user events it fired or received lately,
/// so that a member that missed them (or restarts) catches up, as Serf's push/pull carries its
/// event buffer (`messagePushPull.Events`).
public struct EventsSection: Hashable, Sendable {
    public var eventClock: UInt64
    public var queryClock: UInt64
    public var events: [UserEvent]

    public init(eventClock: UInt64, queryClock: UInt64, events: [UserEvent]) {
        self.eventClock = eventClock
        self.queryClock = queryClock
        self.events = events
    }
}
