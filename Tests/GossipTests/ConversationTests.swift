import Gossip
import GossipCore
import GossipWire
import Testing

extension GossipRuntimeTests {
    /// Replies travel back on the connection their request came in on: a node whose own port
    /// the seed cannot reach (here it advertises a port nothing listens on) still joins and
    /// keeps exchanging state. Before conversations, the seed dialled the advertised address
    /// to answer, and the join failed.
    @Test("a node whose own port the seed cannot reach still joins and exchanges state")
    func onlyTheRespondersPortNeedsToBeReachable() async throws {
        let seed = try GossipNode(configuration: config("seed"))
        var c = config("hidden")
        c.advertiseAddress = Address(ipv4: 0x7f00_0001, port: 1)
        let hidden = try GossipNode(configuration: c)
        do {
            try await seed.start()
            try await hidden.start()
            let contacted = try await hidden.join([await seed.statistics().address])
            #expect(contacted == 1)
            try await waitUntil(hidden, "the seed alive") { status(of: "seed", in: $0) == .alive }
            // Periodic push/pulls (every 2 s in these settings) complete as well.
            let before = await hidden.statistics().core.pushPulls
            try await waitForStatistics(hidden, "two more exchanges") { $0.core.pushPulls >= before + 2 }
        } catch {
            Issue.record(error)
        }
        await hidden.stop()
        await seed.stop()
    }
}
