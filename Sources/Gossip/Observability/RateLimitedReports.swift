import GossipCore

/// Decides which of a stream of similar problems gets a log line of its own: the first one
/// per key (a destination, a source host, a reason), then at most one summary per interval
/// with the counts of the rest. Bounded: once `maxKeys` keys were reported in full, further
/// new keys only go into the summary until the next one, which forgets them all.
///
/// A plain value on injected time, so that the policy is tested without a clock.
struct RateLimitedReports<Key: Hashable & Sendable>: Sendable {
    enum Decision: Equatable, Sendable {
        /// Log this one in full.
        case report
        /// Counted into the next summary.
        case suppressed
    }

    struct Summary: Equatable, Sendable {
        /// Suppressed occurrences by reason label, since the previous summary.
        var counts: [String: Int]
        /// Distinct keys among them.
        var keys: Int
        var total: Int { counts.values.reduce(0, +) }

        /// "3 wrong_family, 1 broadcast", in a stable order.
        var text: String {
            counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        }
    }

    let interval: Duration
    let maxKeys: Int
    private var reported: Set<Key> = []
    private var pendingKeys: Set<Key> = []
    private var pending: [String: Int] = [:]
    private var lastSummary: Instant?

    init(interval: Duration = .seconds(60), maxKeys: Int = 1024) {
        self.interval = interval
        self.maxKeys = maxKeys
    }

    mutating func record(_ key: Key, reason: String) -> Decision {
        if !reported.contains(key) && reported.count < maxKeys {
            reported.insert(key)
            return .report
        }
        pending[reason, default: 0] += 1
        if pendingKeys.count < maxKeys { pendingKeys.insert(key) }
        return .suppressed
    }

    /// The summary due at `now`, if the interval has passed since the last one and anything
    /// was suppressed since.
    mutating func summary(now: Instant) -> Summary? {
        guard let last = lastSummary else {
            lastSummary = now
            return nil
        }
        guard now - last >= interval else { return nil }
        lastSummary = now
        if reported.count >= maxKeys { reported.removeAll(keepingCapacity: true) }
        guard !pending.isEmpty else { return nil }
        let s = Summary(counts: pending, keys: pendingKeys.count)
        pending.removeAll(keepingCapacity: true)
        pendingKeys.removeAll(keepingCapacity: true)
        return s
    }
}
