@testable import Gossip
import GossipCore
import GossipWire
import Testing

extension GossipRuntimeTests {
    /// The runtime's own books, not the process's descriptor count (other suites run in the same
    /// process): after stop or leave, no connection, timer, join, socket or subscriber is left.
    @Test("start and stop release every connection, timer, socket and subscriber the node held")
    func noLeaks() async throws {
        // A long-lived peer, so each cycle also opens and closes TCP connections.
        let anchor = try GossipNode(configuration: config("anchor"))
        let anchorAddress = try await anchor.start().address
        for i in 0..<10 {
            let node = try GossipNode(configuration: config("cycler\(i)"))
            let events = await node.events()
            try await node.start()
            try await node.join([anchorAddress])
            try await waitUntil(anchor, "cycler\(i) alive") { status(of: "cycler\(i)", in: $0) == .alive }
            if i % 2 == 0 { await node.leave() } else { await node.stop() }
            #expect(await node.held() == ["connections": 0, "timers": 0, "awaitingReply": 0, "joins": 0, "channels": 0])
            var reader = events.makeAsyncIterator()
            while await reader.next() != nil {}
            #expect(node.subscriberCount == 0, "stopping ended every subscription")
        }
        await anchor.stop()
        #expect(await anchor.held() == ["connections": 0, "timers": 0, "awaitingReply": 0, "joins": 0, "channels": 0])
    }
}
