/// Order statistics of a sample (nearest rank), for the reports' median, p90, p99 and max.
struct Summary: Equatable {
    var count: Int
    var median: Double
    var p90: Double
    /// With fewer than 100 values, the largest.
    var p99: Double
    var max: Double

    /// Nil for an empty sample.
    init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        func rank(_ q: Double) -> Double {
            let index = Int((q * Double(sorted.count)).rounded(.up)) - 1
            return sorted[Swift.max(0, Swift.min(sorted.count - 1, index))]
        }
        count = sorted.count
        median = rank(0.5)
        p90 = rank(0.9)
        p99 = rank(0.99)
        max = sorted[sorted.count - 1]
    }
}
