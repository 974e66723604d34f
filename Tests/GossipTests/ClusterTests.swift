@testable import Gossip
import GossipCore
import GossipWire
import NIOPosix
import Testing

/// Real sockets on 127.0.0.1. Serialized: these tests count the process's descriptors and
/// threads, and would see each other's sockets if they ran side by side.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct GossipRuntimeTests {}

extension GossipRuntimeTests {
    @Test("32 nodes converge, detect a failure, see a departure, take back a restarted node")
    func thirtyTwoNodes() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let dir = temporaryDirectory()
        var nodes: [GossipNode] = []
        var restarted: GossipNode?
        do {
            let count = 32
            for i in 0..<count {
                let node = try GossipNode(configuration: config("n\(i)", group: group, snapshot: "\(dir)/n\(i).snapshot"))
                try await node.start()
                nodes.append(node)
            }
            let seed = await nodes[0].statistics().address
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for node in nodes.dropFirst() {
                    tasks.addTask { _ = try await node.join([seed]) }
                }
                try await tasks.waitForAll()
            }
            for node in nodes {
                try await waitUntil(node, "\(count) alive") { aliveCount($0) == count }
            }

            // A crash: no goodbye, so everybody else must detect it.
            let crashed = nodes[count - 1]
            let crashedAddress = await crashed.statistics().address
            await crashed.stop()
            for node in nodes[0..<(count - 1)] {
                try await waitUntil(node, "n\(count - 1) failed") { status(of: "n\(count - 1)", in: $0) == .failed }
            }

            // A goodbye: everybody sees "left", never "failed".
            let leaver = nodes[count - 2]
            await leaver.leave()
            for node in nodes[0..<(count - 2)] {
                try await waitUntil(node, "n\(count - 2) left") { status(of: "n\(count - 2)", in: $0) == .left }
            }

            // The crashed node comes back on its port with no seed: its snapshot knows the cluster.
            let file = try String(contentsOfFile: "\(dir)/n\(count - 1).snapshot", encoding: .utf8)
            let recorded = try #require(
                file.split(separator: "\n").first { $0.hasPrefix("incarnation ") }.flatMap { UInt64($0.dropFirst("incarnation ".count)) })
            let again = try GossipNode(
                configuration: config(
                    "n\(count - 1)", at: crashedAddress, group: group, snapshot: "\(dir)/n\(count - 1).snapshot"))
            restarted = again
            let started = try await again.start()
            #expect(started.incarnation == recorded + 1, "a restart resumes one above the incarnation its snapshot recorded, as in the simulator")
            #expect(started.snapshotFound && started.rejoining == count - 1, "rejoins every member it knew when it crashed")
            try await waitUntil(again, "rejoined \(count - 1) alive") { aliveCount($0) == count - 1 }
            for node in nodes[0..<(count - 2)] {
                try await waitUntil(node, "n\(count - 1) back") { status(of: "n\(count - 1)", in: $0) == .alive }
            }
        } catch {
            Issue.record(error)
        }
        for node in nodes { await node.stop() }
        await restarted?.stop()
        try await group.shutdownGracefully()
        removeDirectory(dir)
    }
}
