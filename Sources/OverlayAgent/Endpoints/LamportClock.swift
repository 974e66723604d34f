import Synchronization

/// The Lamport clock of this host's claims (endpoint claims, and the floor of the Docker
/// driver's network and block clock). It belongs to the endpoint registry, which stamps and
/// persists it; others only `observe` times they have seen (a replicated row, a block claim
/// asked about). Both operations are single atomic steps that commute (a maximum and an
/// increment), so the clock needs no queue: no caller's step can erase another's.
final class LamportClock: Sendable {
    private let time: Atomic<UInt64>

    init(_ time: UInt64 = 0) {
        self.time = Atomic(time)
    }

    /// The newest time used or seen.
    var value: UInt64 { time.load(ordering: .acquiring) }

    /// A claim made after this returns is later than `seen`.
    func observe(_ seen: UInt64) {
        var current = time.load(ordering: .relaxed)
        while current < seen {
            let (exchanged, original) = time.compareExchange(expected: current, desired: seen, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
    }

    /// A time later than every time used or seen so far.
    func next() -> UInt64 {
        time.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
    }
}
