/// Counts of what the decoders refused (by reason) and skipped. A plain value: the runtime
/// keeps one per socket or connection and exports it as metrics.
public struct WireCounters: Sendable, Equatable {
    private var drops: [Int]
    /// Packets or frames decoded successfully.
    public private(set) var accepted: Int = 0
    /// Messages of types this version does not know, skipped inside accepted packets or frames.
    public private(set) var skippedUnknown: Int = 0

    public init() {
        drops = Array(repeating: 0, count: Self.reasons.count)
    }

    // A stored copy: `allCases` builds a fresh array on every call, and counting must not allocate.
    private static let reasons = WireError.Reason.allCases

    private static func index(_ r: WireError.Reason) -> Int {
        reasons.firstIndex(of: r) ?? 0
    }

    public subscript(reason: WireError.Reason) -> Int { drops[Self.index(reason)] }

    public var totalDrops: Int { drops.reduce(0, +) }

    /// Reasons with a non-zero count, in declaration order (for export and logs).
    public var nonZero: [(reason: WireError.Reason, count: Int)] {
        Self.reasons.compactMap { r in self[r] > 0 ? (r, self[r]) : nil }
    }

    public mutating func recordDrop(_ error: WireError) { drops[Self.index(error.reason)] += 1 }

    public mutating func recordAccepted(skippedUnknown skipped: Int) {
        accepted += 1
        skippedUnknown += skipped
    }

    public mutating func merge(_ other: WireCounters) {
        for i in drops.indices { drops[i] += other.drops[i] }
        accepted += other.accepted
        skippedUnknown += other.skippedUnknown
    }
}

extension WireCounters: CustomStringConvertible {
    /// `accepted=10 skippedUnknown=0 drops={unauthenticated=3}`: every counter by its name.
    public var description: String {
        let drops = nonZero.map { "\($0.reason.rawValue)=\($0.count)" }.joined(separator: " ")
        return "accepted=\(accepted) skippedUnknown=\(skippedUnknown) drops={\(drops)}"
    }
}
