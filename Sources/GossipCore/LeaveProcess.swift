/// A graceful departure: from `leave` until the departure has been gossiped (or the deadline
/// passed), then done.
struct LeaveProcess: Sendable {
    private(set) var isLeaving = false
    private(set) var hasLeft = false
    /// The queued "left" notice whose sending ends the departure.
    private var notice: UInt64?

    /// Starts leaving; `notice` is the id of the queued departure notice.
    mutating func begin(notice id: UInt64) {
        isLeaving = true
        notice = id
    }

    /// Whether the departure notice has gone out as often as every update does.
    func departureGossiped(_ dissemination: Dissemination, key: BroadcastKey) -> Bool {
        guard let notice else { return false }
        return !dissemination.isPending(notice, key: key)
    }

    /// Ends the departure; true the first time only.
    mutating func finish() -> Bool {
        guard isLeaving, !hasLeft else { return false }
        hasLeft = true
        return true
    }
}
