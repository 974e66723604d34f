import Gossip
import GossipCore
import GossipWire
import Testing

@Suite("GossipConfiguration.validate")
struct ConfigurationTests {
    static func valid() -> GossipConfiguration {
        GossipConfiguration(name: "t", bindAddress: Address(ipv4: 0x7F00_0001, port: 0), logger: quietLogger)
    }

    @Test func theDefaultsAreValid() throws {
        try Self.valid().validate()
    }

    @Test func tagsBeyondTheWireLimitsAreRefused() {
        var config = Self.valid()
        config.tags = Tags((0..<100).map { (key: "k\($0)", value: "v") })
        #expect(throws: GossipError.tagsTooLarge) { try config.validate() }
        #expect(throws: GossipError.tagsTooLarge) { _ = try GossipNode(configuration: config) }
    }

    /// Each case names the field `validate()` must blame, as `GossipError.setting`.
    static let invalid: [(String, @Sendable (inout GossipConfiguration) -> Void)] = [
        ("advertiseAddress", { $0.bindAddress = Address(ipv4: 0, port: 7946) }),
        ("advertiseAddress", { $0.bindAddress = Address(ipv4: 0, port: 7946); $0.advertiseAddress = Address(ipv4: 0, port: 1) }),
        ("joinTimeout", { $0.joinTimeout = .zero }),
        ("connectTimeout", { $0.connectTimeout = .seconds(-1) }),
        ("snapshotInterval", { $0.snapshotInterval = .seconds(100_000) }),
        ("snapshotMaxMembers", { $0.snapshotMaxMembers = -1 }),
        ("udpSilenceWarningProbes", { $0.udpSilenceWarningProbes = 0 }),
        ("name", { $0.name = "" }),
        ("name", { $0.name = "a\u{202E}b" }),
        ("settings.probeTimeout", { $0.settings.probeTimeout = .seconds(5) }),
        ("settings.gossipToTheDead", { $0.settings.gossipToTheDead = .seconds(-1) }),
        ("settings.leavePropagationTimeout", { $0.settings.leavePropagationTimeout = .zero }),
        ("settings.packetBudget", { $0.settings.packetBudget = 100_000 }),
    ]

    @Test(arguments: 0..<ConfigurationTests.invalid.count)
    func invalidFieldsAreNamed(_ index: Int) {
        let (field, change) = Self.invalid[index]
        var config = Self.valid()
        change(&config)
        do {
            try config.validate()
            Issue.record("accepted a bad \(field)")
        } catch {
            #expect(error.code == .invalidConfiguration, "\(error)")
            #expect(error.setting == field, "\(error)")
            #expect(error.reason?.isEmpty == false)
        }
        // The node checks the same way, with the same typed error.
        #expect(throws: GossipError.self) { _ = try GossipNode(configuration: config) }
    }

    @Test func aWildcardBindWithAnAdvertisedAddressIsValid() throws {
        var config = Self.valid()
        config.bindAddress = Address(ipv4: 0, port: 0)
        config.advertiseAddress = Address(ipv4: 0x7F00_0001, port: 7946)
        try config.validate()
    }

    @Test func errorsAndCountersPrintTheirNames() {
        let e = GossipError.invalidConfiguration(setting: "joinTimeout", reason: "must be more than 0")
        #expect("\(e)" == "invalid configuration: joinTimeout must be more than 0")
        #expect("\(GossipError.Code.joinFailed)" == "joinFailed")
        var counters = Counters()
        counters.probes = 3
        #expect("\(counters)".contains("probes=3"))
        #expect("\(WireCounters())".contains("accepted=0"))
        var transport = TransportCounters()
        transport.udpSendErrors["host_unreachable"] = 2
        #expect("\(transport)".contains("udpSendErrors={host_unreachable=2}"))
    }
}
