// Small JSON replies of the control API that are not in APIModels.swift (Docs/API.md).

/// `POST /v1/join`: how many seeds answered.
public struct JoinReply: Codable, Sendable, Hashable {
    public var joined: Int
    public init(joined: Int) { self.joined = joined }
}

/// `POST /v1/event`: the event's Lamport time.
public struct EventReply: Codable, Sendable, Hashable {
    public var ltime: UInt64
    public init(ltime: UInt64) { self.ltime = ltime }
}

/// `POST /v1/tags`: this member's tags after the change.
public struct TagsReply: Codable, Sendable, Hashable {
    public var tags: [String: String]
    public init(tags: [String: String]) { self.tags = tags }
}

/// `POST /v1/leave`.
public struct LeaveReply: Codable, Sendable, Hashable {
    public var left: Bool
    public init(left: Bool) { self.left = left }
}

/// `POST /v1/force-leave`: the member forced out, and whether this agent forgot it at once.
public struct ForceLeaveReply: Codable, Sendable, Hashable {
    public var node: String
    public var pruned: Bool
    public init(node: String, pruned: Bool) {
        self.node = node
        self.pruned = pruned
    }
}
