import GossipWire
import Testing

@Test func wireErrorsCompareByReason() {
    #expect(WireError.truncated != WireError.unsupportedVersion(2))
    #expect(WireError.nameTooLong(200).reason == WireError.nameTooLong(300).reason)
}

@Test func reasonLabelsAreUniqueAndMetricFriendly() {
    let labels = WireError.Reason.allCases.map(\.rawValue)
    #expect(Set(labels).count == labels.count)
    for label in labels {
        #expect(label.allSatisfy { $0.isLowercase || $0 == "_" || $0.isNumber }, "\(label)")
    }
}

@Test func countersCountByReason() {
    var c = WireCounters()
    c.recordDrop(.truncated)
    c.recordDrop(.truncated)
    c.recordDrop(.frameTooLarge(9))
    c.recordAccepted(skippedUnknown: 3)
    #expect(c[.truncated] == 2)
    #expect(c[.frameTooLarge] == 1)
    #expect(c[.unauthenticated] == 0)
    #expect(c.totalDrops == 3)
    #expect(c.skippedUnknown == 3)
    var d = WireCounters()
    d.merge(c)
    d.merge(c)
    #expect(d[.truncated] == 4)
    #expect(d.nonZero.map(\.reason) == [.truncated, .frameTooLarge])
}
