import Foundation
import Gossip
import GossipCore
import GossipWire
import Testing

/// Issue 8, membership: names that forge output, the dead coming back, one name twice.
extension HostileTests {
    /// Case 6. A member name with a newline and a fake event line after it.
    @Test("a member name carrying a newline and a fake 'failed n2' line is refused and counted; no stdout shows a forged line")
    func namesCannotForgeOutput() async throws {
        try requireNodeExecutable()
        let forged = "x\nfailed n2 127.0.0.1:1 7"
        let attacker = try await UDPPeer.bind()
        func attack(_ to: Address) async throws {
            try await attacker.send(
                [.alive(Alive(incarnation: 1, name: forged, address: unusedLoopback(1), tags: Tags()))], to: to)
            try await attacker.send(
                [.alive(Alive(incarnation: 1, name: "y", address: unusedLoopback(2), tags: ["k\nfailed n2": "v"]))], to: to)
            // A well-formed newcomer after them: once it shows, the attack has been handled.
            try await attacker.send(
                [.alive(Alive(incarnation: 1, name: "marker", address: unusedLoopback(3), tags: Tags()))], to: to)
        }

        let processes = ProcessSet()
        do {
            let n1 = try processes.start("n1", ["--bind", "127.0.0.1:0"] + fastNodeArguments)
            try await n1.waitUntil("ready") { $0.address != nil }
            let n2 = try processes.start("n2", ["--bind", "127.0.0.1:0", "--join", n1.address ?? ""] + fastNodeArguments)
            for p in [n1, n2] {
                try await p.waitUntil("both joined") { $0.statuses["n1"] == "joined" && $0.statuses["n2"] == "joined" }
            }
            try await attack(try #require(Address(parsing: n1.address ?? "")))
            for p in [n1, n2] {
                try await p.waitUntil("marker joined") { $0.statuses["marker"] != nil }
                let lines = p.current.lines
                let fake = lines.filter { $0.hasPrefix("failed n2") }
                #expect(fake.isEmpty, "\(p.name) printed a forged line: \(fake)")
                #expect(p.current.statuses["n2"] == "joined", "\(p.name) believes n2 is \(p.current.statuses["n2"] ?? "unknown")")
            }
        } catch {
            Issue.record(error)
        }
        await processes.stopAll()

        // In process, to read what was refused.
        let node = try GossipNode(configuration: config("n1"))
        do {
            try await node.start()
            try await attack(await node.statistics().address)
            try await waitUntil(node, "marker joined") { status(of: "marker", in: $0) != nil }
            #expect(!node.members.contains { $0.name.contains("\n") || $0.tags.contains { $0.key.contains("\n") } })
            let stats = await node.statistics()
            let refused = refusals(stats, .invalidName)
            #expect(refused >= 2, "refusals[.invalidName] = \(refused)")
        } catch {
            Issue.record(error)
        }
        await node.stop()
        await attacker.close()
    }

    /// Case 8. A member that a and b know as failed must not reach a newcomer as alive.
    @Test("a newcomer never announces as joined a member the cluster knows as failed, through the join or the push/pull after it")
    func deadStayDead() async throws {
        var newcomer: GossipNode?
        do {
            try await withCluster(["a", "b", "c"]) { nodes in
                let (a, b, c) = (nodes[0], nodes[1], nodes[2])
                await c.stop()
                for n in [a, b] {
                    try await waitUntil(n, "c failed") { status(of: "c", in: $0) == .failed }
                }
                let d = try GossipNode(configuration: config("d"))
                newcomer = d
                try await d.start()
                let log = await EventLog(d)
                defer { log.stop() }
                _ = try await d.join([await a.statistics().address])
                try await waitUntil(d, "a and b alive") { status(of: "a", in: $0) == .alive && status(of: "b", in: $0) == .alive }
                // The join's exchange, then two more push/pulls in either direction.
                let after = await d.statistics().core.pushPulls
                try await waitForStatistics(d, "two more push/pulls") { $0.core.pushPulls >= after + 2 }
                #expect(!log.kinds(of: "c").contains(.joined), "d announced c: \(log.kinds(of: "c"))")
                #expect(status(of: "c", in: d.members) != .alive, "d believes c is alive")
            }
        } catch {
            Issue.record(error)
        }
        await newcomer?.stop()
    }

    /// Case 9. Another process takes a live member's name at a new port.
    @Test("a second live 'b' at a new port cannot join: its join fails naming the conflict, and the seed counts it")
    func nameConflict() async throws {
        var impostor: GossipNode?
        do {
            try await withCluster(["a", "b", "c"]) { nodes in
                let (a, b) = (nodes[0], nodes[1])
                let seed = await a.statistics().address
                let held = await b.statistics().address
                let other = try GossipNode(configuration: config("b"))
                impostor = other
                try await other.start()
                do {
                    let n = try await other.join([seed])
                    Issue.record("the second 'b' joined (\(n) seeds answered)")
                } catch {
                    #expect(
                        error as? GossipError == .nameConflict(name: "b", heldAt: held),
                        "the error names the conflict (name b held at \(held)): \(error)")
                }
                let stats = try await waitForStatistics(a, "the conflict counted", timeout: .seconds(10)) { s in
                    refusals(s, .nameConflict) > 0
                }
                #expect(refusals(stats, .nameConflict) > 0)
                // The real b keeps its place.
                #expect(a.members.first { $0.name == "b" }?.address == held)
            }
        } catch {
            Issue.record(error)
        }
        await impostor?.stop()
    }
}
