import Gossip
import GossipCore
import GossipWire
import Testing

extension GossipRuntimeTests {
    @Test("start and stop release every socket and thread")
    func noLeaks() async throws {
        // A long-lived peer, so each cycle also opens and closes TCP connections.
        let anchor = try GossipNode(configuration: config("anchor"))
        try await anchor.start()
        let anchorAddress = await anchor.statistics().address
        func cycle(_ i: Int) async throws {
            // On NIO's shared group: twenty nodes must not add a thread or a descriptor.
            let node = try GossipNode(configuration: config("cycler\(i)"))
            try await node.start()
            _ = try await node.join([anchorAddress])
            try await waitUntil(anchor, "cycler\(i) alive") { status(of: "cycler\(i)", in: $0) == .alive }
            if i % 2 == 0 { await node.leave() } else { await node.stop() }
        }
        do {
            // Warm up lazily created process-wide state (NIO's singletons, the metrics system).
            try await cycle(0)
            let fds = openDescriptorCount()
            let threads = threadCount()
            for i in 1...20 { try await cycle(i) }
            // Other test targets may run beside this one; a leak would be 3 descriptors per cycle.
            #expect(openDescriptorCount() <= fds + 2, "descriptors grew from \(fds)")
            #expect(threadCount() <= threads + 2, "threads grew from \(threads)")
        } catch {
            Issue.record(error)
        }
        await anchor.stop()
    }
}
