import Foundation
@testable import Gossip
import GossipCore
import NIOConcurrencyHelpers
import NIOPosix
import Testing

/// User events, queries and tag changes over real sockets: in-process nodes and `gossip-node`
/// processes on 127.0.0.1.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SerfLayerTests {
    /// Collects what one node's subscriptions deliver.
    final class Received: Sendable {
        let events = NIOLockedValueBox<[String: Int]>([:])
        let changed: AsyncStream<Void>
        private let signal: AsyncStream<Void>.Continuation

        init() { (changed, signal) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1)) }

        func watch(_ node: GossipNode, answer: Bool) async -> [Task<Void, Never>] {
            let userEvents = await node.userEvents()
            let queries = await node.incomingQueries()
            return [
                Task {
                    for await u in userEvents {
                        if case .event(let e) = u { events.withLockedValue { $0["\(e.origin)/\(e.name)", default: 0] += 1 } }
                        signal.yield()
                    }
                },
                Task {
                    for await u in queries {
                        if answer, case .query(let q) = u { try? await node.respond(to: q.responder, payload: Array(node.name.utf8)) }
                    }
                },
            ]
        }

        func waitFor(_ keys: Set<String>, timeout: Duration = .seconds(20)) async -> Bool {
            await firstTrue(within: timeout) {
                if Set(self.events.withLockedValue { $0.keys }) == keys { return true }
                for await _ in self.changed where Set(self.events.withLockedValue { $0.keys }) == keys { return true }
                return false
            }
        }
    }

    @Test("8 nodes: events delivered once everywhere, tags changed at run time, a tag-filtered query answered by exactly its members")
    func eightNodes() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var nodes: [GossipNode] = []
        var tasks: [Task<Void, Never>] = []
        var received: [Received] = []
        do {
            for i in 0..<8 {
                let node = try GossipNode(configuration: config("n\(i)", group: group))
                try await node.start()
                nodes.append(node)
                let r = Received()
                tasks += await r.watch(node, answer: true)
                received.append(r)
            }
            let seed = await nodes[0].statistics().address
            for node in nodes.dropFirst() { _ = try await node.join([seed]) }
            for node in nodes { try await waitUntil(node, "8 alive") { aliveCount($0) == 8 } }

            try await nodes[3].fireEvent("deploy", payload: Array("v1".utf8))
            try await nodes[5].fireEvent("restart")
            for (i, r) in received.enumerated() {
                #expect(await r.waitFor(["n3/deploy", "n5/restart"]), "n\(i) misses events: \(r.events.withLockedValue { $0 })")
            }

            // Tags at run time: two members become web servers, every member sees it.
            for i in [2, 6] { try await nodes[i].setTags(["role": "web-\(i)"]) }
            for node in nodes {
                try await waitUntil(node, "web tags") { m in
                    m.filter { $0.tags["role"]?.hasPrefix("web-") == true }.map(\.name).sorted() == ["n2", "n6"]
                }
            }
            await #expect(throws: GossipError.tagsTooLarge) {
                try await nodes[1].setTags(["big": String(repeating: "x", count: 2_000)])
            }

            let updates = try await nodes[0].query(
                QueryRequest(name: "who", filters: [.tag(key: "role", pattern: try FilterPattern("web-\\d"))], timeout: .seconds(20)))
            var acks = Set<String>()
            var answers: [String] = []
            var end: QueryEnd?
            for await u in updates {
                switch u {
                case .ack(let from): acks.insert(from)
                case .response(let from, let payload):
                    #expect(String(decoding: payload, as: UTF8.self) == from)
                    answers.append(from)
                case .finished(let e): end = e
                }
            }
            #expect(answers.sorted() == ["n2", "n6"])
            #expect(acks == ["n2", "n6"])
            // Ends on the last answer, not at the 20 s timeout (the suite's time limit would catch that).
            #expect(end == .allResponded)

            await #expect(throws: GossipError.self) { try await nodes[0].fireEvent("e", payload: [UInt8](repeating: 0, count: 5_000)) }
            await #expect(throws: GossipError.invalidRequest(.reservedName("_grapevine-install-key", prefix: "_grapevine-"))) {
                _ = try await nodes[0].query(QueryRequest(name: "_grapevine-install-key"))
            }
            let events = await nodes[0].statistics().core
            #expect(events.userEventsDelivered == 2)
            #expect(events.requestsRefused == 0, "refused before reaching the core")
        } catch {
            Issue.record("\(error)")
        }
        for node in nodes { await node.stop() }
        for t in tasks { await t.value }
        try await group.shutdownGracefully()
    }

    @Test("4 gossip-node processes: an event fired on stdin reaches every process, a query is answered, tags change")
    func processes() async throws {
        guard FileManager.default.isExecutableFile(atPath: NodeProcess.executable) else {
            Issue.record("gossip-node not built next to the tests: \(NodeProcess.executable)")
            return
        }
        let fast = ["--probe-interval-ms", "200", "--probe-timeout-ms", "100", "--gossip-interval-ms", "50"]
        var processes: [NodeProcess] = []
        do {
            let first = try NodeProcess(name: "p0", arguments: ["--bind", "127.0.0.1:0", "--query-response", "from-p0"] + fast)
            processes.append(first)
            try await first.waitUntil("ready") { $0.address != nil }
            let seed = first.address ?? ""
            for i in 1..<4 {
                processes.append(
                    try NodeProcess(
                        name: "p\(i)", arguments: ["--bind", "127.0.0.1:0", "--join", seed, "--query-response", "from-p\(i)"] + fast))
            }
            for p in processes {
                try await p.waitUntil("4 joined") { $0.statuses.values.filter { $0 == "joined" }.count == 4 }
            }
            processes[2].send("event deploy version 7")
            for p in processes {
                try await p.waitUntil("the event") { $0.lines.contains("user-event deploy 0 p2 version 7") }
            }
            processes[1].send("tags role=db")
            for p in processes {
                try await p.waitUntil("p1 updated") { v in v.lines.contains { $0.hasPrefix("updated p1 ") } }
            }
            processes[0].send("query --tag role=db --timeout-ms 20000 who")
            try await processes[0].waitUntil("the answer") { v in
                v.lines.contains("query-response 1 p1 from-p1") && v.lines.contains { $0.hasPrefix("query-done 1 all-responded") }
            }
            processes[3].send("event " + String(repeating: "x", count: 2_000))
            try await processes[3].waitUntil("the refusal") { v in v.lines.contains { $0.hasPrefix("error invalid request") } }
            for p in processes {
                #expect(p.current.lines.filter { $0.hasPrefix("user-event ") }.count == 1, "\(p.name): one event, once")
            }
        } catch {
            Issue.record("\(error)")
        }
        for p in processes { p.terminate() }
        for p in processes { await p.reap() }
    }

    @Test("4 gossip-node processes rotate their key with keys install, use, remove; an old-key node is then refused")
    func processKeyRotation() async throws {
        guard FileManager.default.isExecutableFile(atPath: NodeProcess.executable) else {
            Issue.record("gossip-node not built next to the tests: \(NodeProcess.executable)")
            return
        }
        let old = SecretKey.random()
        let new = SecretKey.random()
        let fast = ["--probe-interval-ms", "200", "--probe-timeout-ms", "100", "--gossip-interval-ms", "50", "--join-retry-ms", "200"]
        var processes: [NodeProcess] = []
        do {
            let first = try NodeProcess(name: "k0", arguments: ["--bind", "127.0.0.1:0", "--key", old.base64] + fast)
            processes.append(first)
            try await first.waitUntil("ready") { $0.address != nil }
            let seed = first.address ?? ""
            for i in 1..<4 {
                processes.append(
                    try NodeProcess(name: "k\(i)", arguments: ["--bind", "127.0.0.1:0", "--join", seed, "--key", old.base64] + fast))
            }
            for p in processes {
                try await p.waitUntil("4 joined") { $0.statuses.values.filter { $0 == "joined" }.count == 4 }
            }
            // Each step from another member, as an operator would on any host.
            for (i, step) in ["install \(new.base64)", "use \(new.base64)", "remove \(old.base64)"].enumerated() {
                let p = processes[i]
                let op = step.split(separator: " ")[0]
                p.send("keys " + step)
                try await p.waitUntil("keys \(op)") { v in v.lines.contains { $0.hasPrefix("keys-done \(op) ") } }
                #expect(p.current.lines.contains("keys-done \(op) complete"), "\(p.name): \(p.current.lines.suffix(6))")
                #expect(p.current.lines.contains { $0.hasPrefix("keys-report \(op) asked=4 applied=4 failed=0 missing=0") })
            }
            processes[3].send("keys list")
            try await processes[3].waitUntil("keys list") { v in v.lines.contains { $0.hasPrefix("keys-done list ") } }
            let keyLines = processes[3].current.lines.filter { $0.hasPrefix("keys-key ") }
            #expect(keyLines == ["keys-key \(new.fingerprint) held=4 primary=4"])
            // The members still know each other after the rotation.
            for p in processes { #expect(p.current.statuses.values.filter { $0 == "joined" }.count == 4) }
            // A node that still holds only the old key is refused by the rotated cluster.
            let outsider = try NodeProcess(name: "k9", arguments: ["--bind", "127.0.0.1:0", "--join", seed, "--key", old.base64] + fast)
            processes.append(outsider)
            try await outsider.waitUntil("join refused", timeout: .seconds(30)) { v in v.lines.contains { $0.hasPrefix("join-failed") } }
            for p in processes.prefix(4) { #expect(p.current.statuses["k9"] == nil, "\(p.name) let the old-key node in") }
        } catch {
            Issue.record("\(error)")
        }
        for p in processes { p.terminate() }
        for p in processes { await p.reap() }
    }
}
