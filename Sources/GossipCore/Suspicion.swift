/// Lifeguard's dynamic suspicion of one member: the timeout starts at `maximum` and shrinks
/// towards `minimum` as distinct members independently confirm the suspicion.
struct Suspicion: Sendable {
    var incarnation: UInt64
    var started: Instant
    var minimum: Duration
    var maximum: Duration
    var expected: Int
    var confirmers: [String]
    var token: UInt64
    /// An earlier deadline set by evidence that the member's process is gone (the kernel
    /// refused a probe: `GossipInstance.unreachable`); confirmations cannot move it later.
    var hastened: Instant? = nil

    var timeout: Duration {
        Formulas.suspicionTimeout(minimum: minimum, maximum: maximum, expected: expected, confirmed: confirmers.count - 1)
    }

    var deadline: Instant {
        let byConfirmations = started + timeout
        guard let hastened else { return byConfirmations }
        return min(hastened, byConfirmations)
    }

    /// Records a confirmation; true when it came from a member not heard from before and the
    /// deadline therefore moved.
    mutating func confirm(by member: String) -> Bool {
        if confirmers.count - 1 >= expected { return false }
        if confirmers.contains(member) { return false }
        confirmers.append(member)
        return true
    }
}

/// Lifeguard's local health multiplier ("awareness"): a node that misses acks or has to refute
/// suspicions about itself suspects its own health and stretches its probe timing.
struct LocalHealth: Sendable {
    private(set) var score = 0
    let maximum: Int

    init(maximum: Int) { self.maximum = maximum }

    /// Use `FailureDetector.record(_:)`: the deltas live in `HealthEvent`.
    mutating func apply(_ delta: Int) {
        score = min(max(score + delta, 0), maximum - 1)
    }

    /// `d * (score + 1)`.
    func scale(_ d: Duration) -> Duration { d * (score + 1) }
}
