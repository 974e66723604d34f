/// A half-open run of address offsets `[low, high)` inside one network's pool (offset 0 is the
/// network address).
public struct OffsetSpan: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let low: UInt64
    public let high: UInt64

    /// `low < high` is the caller's promise; an empty span is never stored.
    public init(_ low: UInt64, _ high: UInt64) {
        self.low = low
        self.high = high
    }

    public var count: UInt64 { high - low }
    public func contains(_ offset: UInt64) -> Bool { low <= offset && offset < high }
    public static func < (a: OffsetSpan, b: OffsetSpan) -> Bool { a.low < b.low }
    public var description: String { "[\(low), \(high))" }
}

/// A range an owner has given away and its recipient has not yet acknowledged taking.
public struct Donation: Hashable, Sendable {
    /// Numbered by the donor, increasing, so a recipient takes each one once (`AllocatorRow.taken`).
    public let sequence: UInt64
    public let span: OffsetSpan
    public let recipient: String
}

/// A host's request that `owner` give it space: any free space (`address` nil) or the one
/// offset the user asked for with `--ip`.
public struct DonationRequest: Hashable, Sendable {
    /// Numbered by the requester, increasing; the owner answers each once (`AllocatorRow.answered`).
    public let sequence: UInt64
    public let owner: String
    public let address: UInt64?
}

/// One host's allocator state for one network, as it publishes it: the only row that host
/// writes for the network, and the only place its ownership is stated.
///
/// Every field is written by `host` alone, and `version` grows with every change, so a merge
/// keeps the row of higher version and no two hosts' writes ever meet in one row.
public struct AllocatorRow: Hashable, Sendable {
    public let host: String
    public var version: UInt64
    /// The host that reclaims this host's ranges when it is gone for good: the donor of its
    /// first range, or for the network's creator the first host it donated to. Set once,
    /// never changed, so every replica that names one names the same host.
    public var successor: String?
    /// Sorted, disjoint, coalesced.
    public var owned: [OffsetSpan]
    /// Leased offsets, inside `owned`. Who holds a lease is the host's own business (its
    /// containers); the cluster needs only that the address is taken, so the row carries the
    /// offsets alone, as runs (`AllocatorRecord.encodedValue`), and thousands fit one row.
    public var leases: Set<UInt64>
    /// Given away, not yet acknowledged by the recipient; none of it is in `owned`.
    public var donations: [Donation]
    /// Donor → highest donation sequence taken from it (by this host, or on behalf of a host
    /// this host reclaimed: key `"donor>recipient"`).
    public var taken: [String: UInt64]
    public var requests: [DonationRequest]
    /// Requester → highest request sequence answered.
    public var answered: [String: UInt64]
    /// Hosts whose ranges this host took as their successor, with the version of the row taken.
    public var reclaimed: [String: UInt64]
    /// The host left gracefully: it owns nothing and holds no lease.
    public var left: Bool
    /// The last sequence number given to a donation or request of this row.
    public var lastSequence: UInt64

    public init(host: String) {
        self.host = host
        self.version = 0
        self.successor = nil
        self.owned = []
        self.leases = []
        self.donations = []
        self.taken = [:]
        self.requests = []
        self.answered = [:]
        self.reclaimed = [:]
        self.left = false
        self.lastSequence = 0
    }

    /// The next donation or request sequence number.
    mutating func nextSequence() -> UInt64 {
        lastSequence += 1
        return lastSequence
    }
}

/// Span arithmetic on sorted, disjoint, coalesced lists.
enum Spans {
    static func contains(_ spans: [OffsetSpan], _ offset: UInt64) -> Bool {
        spans.contains { $0.contains(offset) }
    }

    static func insert(_ spans: [OffsetSpan], _ new: OffsetSpan) -> [OffsetSpan] {
        var all = (spans + [new]).sorted()
        var out: [OffsetSpan] = []
        for s in all {
            if let last = out.last, last.high >= s.low {
                out[out.count - 1] = OffsetSpan(last.low, max(last.high, s.high))
            } else {
                out.append(s)
            }
        }
        all = out
        return all
    }

    static func remove(_ spans: [OffsetSpan], _ cut: OffsetSpan) -> [OffsetSpan] {
        var out: [OffsetSpan] = []
        for s in spans {
            if s.high <= cut.low || cut.high <= s.low { out.append(s); continue }
            if s.low < cut.low { out.append(OffsetSpan(s.low, cut.low)) }
            if cut.high < s.high { out.append(OffsetSpan(cut.high, s.high)) }
        }
        return out
    }

    static func covers(_ spans: [OffsetSpan], _ inner: OffsetSpan) -> Bool {
        spans.contains { $0.low <= inner.low && inner.high <= $0.high }
    }
}
