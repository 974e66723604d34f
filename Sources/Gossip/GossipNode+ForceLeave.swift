import GossipCore

extension GossipNode {
    /// Serf's `force-leave`: removes a failed member now rather than after
    /// `Settings.reapFailedAfter`. This node announces on the member's behalf that it left, at
    /// the incarnation it failed with; every member then reports `.left` for it (an application
    /// withdraws what the member owned) and stops trying to reconnect. With `prune` this node
    /// also forgets it at once (`.reaped` here; the others forget it after
    /// `Settings.reapLeftAfter`). A member that already left is only pruned, if asked.
    ///
    /// Only a failed member can be forced out: an alive or suspect one would refute the notice
    /// with a higher incarnation, so it is refused instead.
    ///
    /// - Throws: `invalidRequest` wrapping `RequestError.unknownMember` for a name this node does
    ///   not know or its own, `RequestError.memberNotFailed` for an alive or suspect member;
    ///   `notRunning` unless the node runs.
    public func forceLeave(_ member: String, prune: Bool = false) async throws(GossipError) {
        if let error = await onLoop({ runtime, reply in reply(runtime.forceLeave(member, prune: prune)) }) {
            throw error
        }
    }
}

extension NodeRuntime {
    func forceLeave(_ member: String, prune: Bool) -> GossipError? {
        guard phase == .running else { return .notRunning }
        return request(.forceLeave(member: member, prune: prune)).map { .invalidRequest($0) }
    }
}
