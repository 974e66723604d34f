import Foundation
import Gossip
import GossipCore
import GossipWire
import Testing

/// Hostile input against live nodes (issue 8). Serialized: they share two CPUs with the other
/// suites, and several bring a node to its limits on purpose.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct HostileTests {}

// MARK: the core API of the issue-8 contract (shared-notes/core-api-contract.md)

/// `statistics().core.refusals[reason]`.
func refusals(_ stats: NodeStatistics, _ reason: Refusal) -> Int { stats.core.refusals[reason] }

// MARK: nodes

/// gossip-node arguments for the short protocol periods the tests use (as `fastSettings()`).
let fastNodeArguments = [
    "--probe-interval-ms", "200", "--probe-timeout-ms", "100", "--gossip-interval-ms", "50",
    "--push-pull-interval-ms", "2000", "--join-retry-ms", "200",
]

func requireNodeExecutable() throws {
    guard FileManager.default.isExecutableFile(atPath: NodeProcess.executable) else {
        Issue.record("gossip-node not built next to the tests: \(NodeProcess.executable)")
        throw TimedOut(description: "no gossip-node")
    }
}

/// Starts nodes named `names` on 127.0.0.1, joins them all through the first, waits until
/// every one sees every other alive, runs `body`, and stops every node whatever happened.
func withCluster(
    _ names: [String], settings: (inout GossipConfiguration) -> Void = { _ in },
    _ body: ([GossipNode]) async throws -> Void
) async throws {
    var nodes: [GossipNode] = []
    do {
        for name in names {
            var c = config(name)
            settings(&c)
            let node = try GossipNode(configuration: c)
            nodes.append(node)
            try await node.start()
        }
        let seed = await nodes[0].statistics().address
        for node in nodes.dropFirst() { _ = try await node.join([seed]) }
        for node in nodes {
            try await waitUntil(node, "\(names.count) alive") { aliveCount($0) == names.count }
        }
        try await body(nodes)
    } catch {
        for node in nodes { await node.stop() }
        throw error
    }
    for node in nodes { await node.stop() }
}

/// Starts gossip-node processes, runs `body`, and terminates and reaps each by PID whatever
/// happened.
final class ProcessSet: @unchecked Sendable {
    private(set) var all: [NodeProcess] = []
    func start(_ name: String, _ arguments: [String], logLevel: String = "error", logs: Bool = false, namespace: String? = nil)
        throws -> NodeProcess
    {
        let p = try NodeProcess(name: name, arguments: arguments, logLevel: logLevel, logs: logs, namespace: namespace)
        all.append(p)
        return p
    }
    func stopAll() async {
        for p in all { p.crash() }
        for p in all { await p.reap() }
        all.removeAll()
    }
}
