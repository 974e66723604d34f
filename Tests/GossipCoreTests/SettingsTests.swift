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
        // Upper bounds: none of these may reach arithmetic that overflows.
        ("probeInterval", { $0.probeInterval = .seconds(3601) }),
        ("pushPullInterval", { $0.pushPullInterval = .seconds(Int64.max) }),
        ("joinRetryInterval", { $0.joinRetryInterval = .seconds(100_000) }),
        ("leavePropagationTimeout", { $0.leavePropagationTimeout = .seconds(1 << 40) }),
        ("reapFailedAfter", { $0.reapFailedAfter = .seconds(1 << 40) }),
        ("gossipToTheDead", { $0.gossipToTheDead = .seconds(-1) }),
        ("reapLeftAfter", { $0.reapLeftAfter = .seconds(-1) }),
        ("suspicionMultiplier", { $0.suspicionMultiplier = Int.max }),
        ("suspicionMaxTimeoutMultiplier", { $0.suspicionMaxTimeoutMultiplier = 101 }),
        ("awarenessMaxMultiplier", { $0.awarenessMaxMultiplier = 1 << 30 }),
        ("retransmitMultiplier", { $0.retransmitMultiplier = 1_000 }),
        ("indirectChecks", { $0.indirectChecks = 1_000 }),
        ("gossipNodes", { $0.gossipNodes = 1 << 20 }),
        ("joinMaxAttempts", { $0.joinMaxAttempts = Int.max }),
        ("maxMembers", { $0.maxMembers = 1 }),
        ("maxMembers", { $0.maxMembers = Int.max }),
        ("maxMembersLearnedPerExchange", { $0.maxMembersLearnedPerExchange = 0 }),
        ("packetOverhead", { $0.packetOverhead = 1 << 20 }),
    ]

    /// The largest values `validate()` allows still give timers a node can arm: the longest
    /// suspicion (Lifeguard's maximum at the largest cluster) and the longest join backoff.
    @Test func theLargestValidSettingsArmTimersWithoutOverflow() throws {
        var s = Settings()
        s.probeInterval = Settings.maxInterval
        s.probeTimeout = Settings.maxInterval - .seconds(1)
        s.joinRetryInterval = Settings.maxInterval
        s.pushPullInterval = Settings.maxInterval
        s.suspicionMultiplier = 100
        s.suspicionMaxTimeoutMultiplier = 100
        s.awarenessMaxMultiplier = 100
        s.reapFailedAfter = Settings.maxAge
        try s.validate()
        let minimum = Formulas.suspicionMinimum(multiplier: 100, members: 1 << 20, probeInterval: s.probeInterval)
        let longest = minimum * 100
        #expect(Instant(nanoseconds: 0) + longest > Instant(nanoseconds: 0), "no wrap past Int64 nanoseconds")
        #expect(Formulas.pushPullInterval(base: s.pushPullInterval, members: 1 << 20) > .zero)
        var h = try Harness(members: 3, settings: s)
        h.feed(.join(seeds: [Harness.address("s")], id: JoinID(raw: 1)))
        for _ in 0..<s.joinMaxAttempts { h.fire(.join(.retry)) }
        #expect(h.joinOutcomes == [JoinOutcome(id: JoinID(raw: 1), contacted: 0)])
    }

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

    @Test(arguments: ["", "a\nb", "tab\there", "bell\u{7}", "c1\u{85}", "rtl\u{202E}evil", "ls\u{2028}"])
    func aNodeRefusesANameThatCouldForgeOutput(name: String) {
        #expect(throws: SettingsError.self) {
            _ = try GossipInstance(name: name, address: Address(ipv4: 1, port: 1), settings: Settings(), seed: 1)
        }
    }

    @Test func printableNamesInAnyScriptAreFine() throws {
        for name in ["node-1", "web 01", "café", "узел", "節點", "🍇"] {
            #expect(Limits.isValidName(name), "\(name)")
        }
        #expect(Limits.escaped("n1\nfailed n2") == "n1\\u{a}failed n2")
        #expect(Limits.escaped("plain") == "plain")
    }

    @Test func aNodeRefusesAnOverlongName() {
        let long = String(repeating: "x", count: Member.maxNameLength + 1)
        #expect(throws: SettingsError.self) {
            _ = try GossipInstance(name: long, address: Address(ipv4: 1, port: 1), settings: Settings(), seed: 1)
        }
    }
}
