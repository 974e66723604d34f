import GossipWire
import Testing

@Test func wireErrorsCompareByReason() {
    #expect(WireError.truncated != WireError.unsupportedVersion(2))
}
