/// A graceful departure: from `leave` until the departure has been gossiped (or the deadline
/// passed), then done.
struct LeaveProcess: Sendable {
    private(set) var isLeaving = false
    private(set) var hasLeft = false
    /// The queued "left" notice whose sending ends the departure.
    private var notice: Message?

    /// Starts leaving; `notice` is the departure notice just queued. While leaving nothing else
    /// queues an update about this node, so the notice is pending until sent or replaced.
    mutating func begin(notice: Message) {
        isLeaving = true
        self.notice = notice
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
