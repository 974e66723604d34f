import Gossip
import GossipCore
import GossipWire
import Testing

extension GossipRuntimeTests {
    @Test("a node with the wrong key cannot join, and the seed counts the refusal")
    func wrongKeyRefused() async throws {
        let metrics = RecordingMetrics()
        var seedConfig = config("seed", keyring: Keyring(primary: SecretKey.random()))
        seedConfig.metricsFactory = metrics
        let seed = try GossipNode(configuration: seedConfig)
        let intruder = try GossipNode(configuration: config("intruder", keyring: Keyring(primary: SecretKey.random())))
        do {
            try await seed.start()
            try await intruder.start()
            let address = await seed.statistics().address
            // The seed closes the connection of a packet it cannot open: that is the reason given.
            await #expect(throws: GossipError.joinFailed(seeds: [SeedFailure(seed: address, reason: .closedWithoutAnswer)])) {
                try await intruder.join([address])
            }
            let stats = await seed.statistics()
            #expect(stats.wire[.unauthenticated] > 0)
            #expect(seed.members.map(\.name) == ["seed"])
            #expect(intruder.members.map(\.name) == ["intruder"])
        } catch {
            Issue.record(error)
        }
        await seed.stop()
        await intruder.stop()
        // Stopping flushes the metrics.
        #expect(metrics.value("gossip_dropped", [("reason", "unauthenticated")]) > 0)
    }

    @Test("a node with another cluster label cannot join, sealed or not")
    func wrongLabelRefused() async throws {
        let key = SecretKey.random()
        for sealed in [false, true] {
            let keyring = sealed ? Keyring(primary: key) : nil
            let seed = try GossipNode(configuration: config("seed", keyring: keyring, label: ClusterLabel("alpha") ?? .none))
            let stranger = try GossipNode(
                configuration: config("stranger", keyring: keyring, label: ClusterLabel("beta") ?? .none))
            do {
                try await seed.start()
                try await stranger.start()
                let address = await seed.statistics().address
                await #expect(throws: GossipError.joinFailed(seeds: [SeedFailure(seed: address, reason: .closedWithoutAnswer)])) {
                    try await stranger.join([address])
                }
                let stats = await seed.statistics()
                // A sealed frame authenticates the label without carrying it: another label fails to open.
                #expect(stats.wire[sealed ? .unauthenticated : .labelMismatch] > 0)
                #expect(seed.members.count == 1)
            } catch {
                Issue.record(error)
            }
            await seed.stop()
            await stranger.stop()
        }
    }

    @Test("nodes sharing key and label join")
    func sameKeyJoins() async throws {
        let keyring = Keyring(primary: SecretKey.random())
        let label = ClusterLabel("alpha") ?? .none
        let a = try GossipNode(configuration: config("a", keyring: keyring, label: label))
        let b = try GossipNode(configuration: config("b", keyring: keyring, label: label))
        do {
            try await a.start()
            try await b.start()
            let n = try await b.join([await a.statistics().address])
            #expect(n == 1)
            try await waitUntil(a, "2 alive") { aliveCount($0) == 2 }
            try await waitUntil(b, "2 alive") { aliveCount($0) == 2 }
        } catch {
            Issue.record(error)
        }
        await a.leave()
        await b.stop()
    }
}
