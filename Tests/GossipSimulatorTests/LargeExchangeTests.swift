import GossipCore
import GossipSimulator
import Testing

/// A push/pull of 10,000 members in one exchange: split over frames on the virtual
/// connection, every frame counted, the joiner learns them all.
@Suite struct LargeExchangeTests {
    @Test(arguments: [UInt64(1), 2]) func aJoinThroughASeedOfTenThousandMembersTakesSeveralFrames(seed: UInt64) throws {
        var settings = Settings()
        settings.maxMembers = 20_000
        settings.maxMembersLearnedPerExchange = 20_000
        let sim = Simulation(seed: seed, settings: settings)
        sim.maxStreamFrameSize = 64 << 10
        try sim.addNode()
        try sim.addNode()
        for k in 0..<1_000 {
            let messages = (0..<10).map { j in
                let i = k * 10 + j
                return Message.alive(
                    Alive(incarnation: 0, name: "far-\(i)", address: Address(ipv4: 0x0b00_0000 + UInt32(i), port: 7946), tags: Tags()))
            }
            sim.inject(0, datagram: messages, from: Address(ipv4: 0x0b00_0000, port: 7946))
        }
        sim.run(for: .milliseconds(1))
        #expect(sim.core(0).knownMembers.count == 10_001)
        let streamsBefore = sim.metrics.streamsSent
        sim.join(1, through: [0])
        let joined = sim.run(upTo: .seconds(5), until: { sim.core(1).knownMembers.count >= 10_002 })
        #expect(joined, "node 1 learned all 10,002 members from one exchange")
        #expect(sim.metrics.streamsSent - streamsBefore > 2, "the reply went as several frames")
    }
}
