/// Serf's `force-leave`: an operator removes a failed member now instead of waiting for the
/// reaper. The node announces the departure on the member's behalf, at the incarnation it
/// failed with, as memberlist's "dead with the left flag": a member that is really alive hears
/// the notice about itself and refutes it with a higher incarnation, which is why only a
/// failed member is accepted here (a live or suspect one is refused rather than flapped).
extension GossipInstance {
    mutating func forceLeave(_ member: String, prune: Bool) {
        guard member != name, let i = table.position(of: member) else {
            return refuse(.forceLeave, .unknownMember(member))
        }
        let old = table[i]
        switch old.status {
        case .alive, .suspect: return refuse(.forceLeave, .memberNotFailed(member, old.status))
        case .failed:
            // `dead` turns a failed member into a left one at the same incarnation, reports
            // `.left` and queues the notice for every other member.
            dead(Dead(incarnation: old.incarnation, name: member, from: name, left: true), local: true)
        case .left: break
        }
        if prune, let j = table.position(of: member) { reap(at: j) }
    }
}
