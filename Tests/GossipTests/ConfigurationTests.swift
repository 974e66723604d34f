import Gossip
import Testing

@Test func tagsBeyondTheWireLimitsAreRefusedAtConfiguration() {
    var config = GossipConfiguration(name: "t", bindAddress: Address(ipv4: 0x7F00_0001, port: 0))
    config.tags = Tags((0..<100).map { (key: "k\($0)", value: "v") })
    #expect(throws: GossipError.tagsTooLarge) { _ = try GossipNode(configuration: config) }
}
