import GossipCore
import Testing

@Suite struct SettingsTests {
    @Test func theDefaultsAreTheLANProfile() throws {
        let s = Settings()
        try s.validate()
        #expect(s.probeInterval == .seconds(1))
        #expect(s.probeTimeout == .milliseconds(500))
        #expect(s.gossipInterval == .milliseconds(200))
        #expect(s.gossipNodes == 3)
        #expect(s.suspicionMultiplier == 4)
        #expect(s.suspicionMaxTimeoutMultiplier == 6)
        #expect(s.awarenessMaxMultiplier == 8)
        #expect(s.retransmitMultiplier == 4)
        #expect(s.pushPullInterval == .seconds(30))
    }

    static let broken: [(String, @Sendable (inout Settings) -> Void)] = [
        ("probeInterval", { $0.probeInterval = .zero }),
        ("probeTimeout", { $0.probeTimeout = .seconds(2) }),
        ("gossipNodes", { $0.gossipNodes = 0 }),
        ("suspicionMultiplier", { $0.suspicionMultiplier = 0 }),
        ("awarenessMaxMultiplier", { $0.awarenessMaxMultiplier = 0 }),
        ("retransmitMultiplier", { $0.retransmitMultiplier = 0 }),
        ("packetBudget", { $0.packetBudget = 100 }),
        ("packetBudget", { $0.packetBudget = 70_000 }),
        ("packetOverhead", { $0.packetOverhead = -1 }),
        ("indirectChecks", { $0.indirectChecks = -1 }),
        ("joinMaxAttempts", { $0.joinMaxAttempts = 0 }),
    ]

    @Test(arguments: 0..<broken.count)
    func validationNamesTheBadSetting(case i: Int) {
        var s = Settings()
        Self.broken[i].1(&s)
        #expect(throws: SettingsError.self) { try s.validate() }
        do {
            try s.validate()
        } catch {
            #expect(error.setting == Self.broken[i].0)
        }
    }

    @Test func aNodeRefusesAnOverlongName() {
        let long = String(repeating: "x", count: Member.maxNameLength + 1)
        #expect(throws: SettingsError.self) {
            _ = try GossipInstance(name: long, address: Address(ipv4: 1, port: 1), settings: Settings(), seed: 1)
        }
    }
}
