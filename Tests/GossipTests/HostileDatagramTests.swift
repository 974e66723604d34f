import Foundation
import Gossip
import GossipCore
import GossipWire
import Testing

/// Issue 8, datagrams: values and addresses from the network that crashed or deafened a member.
extension HostileTests {
    /// Case 1. One alive/suspect/dead about the receiver with an incarnation it cannot outlive.
    /// gossip-node processes take the first blow: on code that traps, a child dies, not the
    /// test runner. Only when every child survived does an in-process node get the same
    /// datagrams, to read what it counted.
    @Test("an alive, suspect or dead about the receiver at incarnation 2^64-1 or 2^62 is refused; the node lives and still answers pings")
    func incarnationCeiling() async throws {
        try requireNodeExecutable()
        let attacks: [(String, UInt64)] = [
            ("alive", .max), ("suspect", .max), ("dead", .max), ("alive", 1 << 62), ("suspect", 1 << 62), ("dead", 1 << 62),
        ]
        func message(_ kind: String, _ incarnation: UInt64, about name: String, at address: Address) -> Message {
            switch kind {
            case "alive": .alive(Alive(incarnation: incarnation, name: name, address: address, tags: Tags()))
            case "suspect": .suspect(Suspect(incarnation: incarnation, name: name, from: "mallory"))
            default: .dead(Dead(incarnation: incarnation, name: name, from: "mallory", left: false))
            }
        }
        let attacker = try await UDPPeer.bind()
        let processes = ProcessSet()
        var survivedAll = true
        do {
            for (i, (kind, incarnation)) in attacks.enumerated() {
                let victim = try processes.start("victim\(i)", ["--bind", "127.0.0.1:0"] + fastNodeArguments)
                try await victim.waitUntil("ready") { $0.address != nil }
                let address = try #require(Address(parsing: victim.address ?? ""))
                try await attacker.send([message(kind, incarnation, about: "victim\(i)", at: address)], to: address)
                let acked = try await attacker.ping(address, named: "victim\(i)", sequence: UInt32(100 + i))
                let alive = victim.isRunning && acked != nil
                #expect(alive, "gossip-node died or went deaf after one \(kind) at incarnation \(incarnation)")
                if !alive || acked == nil { survivedAll = false }
                victim.crash()
                await victim.reap()
            }
        } catch {
            Issue.record(error)
            survivedAll = false
        }
        await processes.stopAll()

        guard survivedAll else {
            await attacker.close()
            return
        }
        // The same datagrams to a node in this process, to read its counters.
        let node = try GossipNode(configuration: config("victim"))
        do {
            try await node.start()
            let address = await node.statistics().address
            for (i, (kind, incarnation)) in attacks.enumerated() {
                try await attacker.send([message(kind, incarnation, about: "victim", at: address)], to: address)
                let acked = try await attacker.ping(address, named: "victim", sequence: UInt32(200 + i))
                #expect(acked != nil, "no ack after one \(kind) at incarnation \(incarnation)")
            }
            let stats = await node.statistics()
            let refused = refusals(stats, .incarnationOutOfRange)
            #expect(
                refused >= attacks.count || stats.wire.nonZero.contains { "\($0.reason)".contains("incarnation") },
                "refusals[.incarnationOutOfRange] = \(refused), wire drops \(stats.wire.nonZero)")
            #expect(stats.incarnation < 1 << 62, "adopted an incarnation it cannot outlive: \(stats.incarnation)")
        } catch {
            Issue.record(error)
        }
        await node.stop()
        await attacker.close()
    }

    /// Case 2. A 17-byte ping that names a broadcast (or unspecified) address as its source.
    @Test("a ping naming 255.255.255.255 or 0.0.0.0:0 as its source does not close the receiver's UDP socket")
    func broadcastSource() async throws {
        let node = try GossipNode(configuration: config("victim"))
        let attacker = try await UDPPeer.bind()
        let prober = try await UDPPeer.bind()
        do {
            try await node.start()
            let address = await node.statistics().address
            let sources = [Address(ipv4: 0xffff_ffff, port: 7946), Address(ipv4: 0, port: 0)]
            for (i, source) in sources.enumerated() {
                let size = try await attacker.send(
                    [.ping(Ping(sequence: UInt32(i + 1), target: "victim", source: "m", sourceAddress: source))], to: address)
                #expect(size < 32)
                let acked = try await prober.ping(address, named: "victim", sequence: UInt32(100 + i))
                #expect(acked != nil, "no ack to a legitimate ping after a ping whose source was \(source)")
                #expect(try boundUDPPorts().contains(address.port), "UDP port \(address.port) no longer bound")
            }
        } catch {
            Issue.record(error)
        }
        await node.stop()
        await attacker.close()
        await prober.close()
    }

    /// Case 3. Fake members at addresses nobody can send to, told to one member of three.
    @Test("alive for fake members at port 0 and at an IPv6 address: no member loses its socket, the cluster stays stable")
    func unusableMemberAddresses() async throws {
        let attacker = try await UDPPeer.bind()
        do {
            try await withCluster(["a", "b", "c"]) { nodes in
                let logs = await EventLog.of(nodes)
                defer { logs.forEach { $0.stop() } }
                let target = await nodes[0].statistics().address
                let fakes: [Address] = [
                    Address(ipv4: 0x7f00_0001, port: 0),
                    try #require(Address(parsing: "[::1]:9")),
                ]
                for (i, fake) in fakes.enumerated() {
                    try await attacker.send(
                        [.alive(Alive(incarnation: 1, name: "fake\(i)", address: fake, tags: Tags()))], to: target)
                }
                // A legitimate exchange after the attack: it is handled once the attack was.
                #expect(try await attacker.ping(target, named: "a", sequence: 7) != nil)
                // A window of protocol periods: long enough for every member to probe and gossip
                // to the fakes several times, and for a deafened member to be declared failed.
                try await waitForProbes(nodes, 40)
                let ports = try boundUDPPorts()
                for node in nodes {
                    let port = await node.statistics().address.port
                    #expect(ports.contains(port), "\(node.name) lost its UDP socket (port \(port))")
                    let view = node.members
                    for other in ["a", "b", "c"] {
                        #expect(status(of: other, in: view) == .alive, "\(node.name) sees \(other) as \(String(describing: status(of: other, in: view)))")
                    }
                }
                for (node, log) in zip(nodes, logs) {
                    let bad = log.all.filter { ["a", "b", "c"].contains($0.member.name) && $0.kind == .failed }
                    #expect(bad.isEmpty, "\(node.name) reported \(bad)")
                }
                let stats = await nodes[0].statistics()
                let refused = refusals(stats, .unusableAddress)
                #expect(refused >= fakes.count, "refusals[.unusableAddress] = \(refused)")
                #expect(!nodes[0].members.contains { $0.name.hasPrefix("fake") && $0.status == .alive })
            }
        } catch {
            Issue.record(error)
        }
        await attacker.close()
    }

    /// Case 4. One datagram of 80 pings naming a third party as their source.
    @Test("80 pings in one datagram buy at most one reply, no larger than the request, and nothing reaches the third address they name")
    func noReflection() async throws {
        let attacker = try await UDPPeer.bind()
        let third = try await UDPPeer.bind()
        do {
            try await withCluster(["v", "w"]) { nodes in
                let target = await nodes[0].statistics().address
                // Fresh news, so that gossip would ride on any reply.
                try await nodes[1].setTags(["k": "v"])
                let pings: [Message] = (1...80).map {
                    .ping(Ping(sequence: UInt32($0), target: "v", source: "x", sourceAddress: third.address))
                }
                let requestBytes = try await attacker.send(pings, to: target)
                let markerAt = try #require(
                    try await attacker.ping(target, named: "v", sequence: 1000), "no ack to the attacker's own ping")
                let replies = attacker.received[..<markerAt]
                #expect(replies.count <= 1, "\(replies.count) reply datagrams to one request datagram")
                let replyBytes = replies.map(\.bytes).reduce(0, +)
                #expect(replyBytes <= requestBytes, "replies of \(replyBytes) bytes to a request of \(requestBytes)")
                let thirdAt = try #require(
                    try await third.ping(target, named: "v", sequence: 2000), "no ack to the third socket's own ping")
                #expect(thirdAt == 0, "the third address got \(thirdAt) datagrams it never asked for")
            }
        } catch {
            Issue.record(error)
        }
        await attacker.close()
        await third.close()
    }

    /// Case 10. One member on [::1] joins an IPv4 cluster: sends to its address fail with a
    /// family error, and must not silence anyone.
    @Test("a member bound to [::1] joining an IPv4 cluster silences no IPv4 member; the three stay stable")
    func wrongFamilyJoiner() async throws {
        var stranger: GossipNode?
        do {
            try await withCluster(["a", "b", "c"]) { nodes in
                let logs = await EventLog.of(nodes)
                defer { logs.forEach { $0.stop() } }
                var c = GossipConfiguration(
                    name: "d6", bindAddress: try #require(Address(parsing: "[::1]:0")), logger: quietLogger)
                c.settings = fastSettings()
                let d = try GossipNode(configuration: c)
                stranger = d
                try await d.start()
                let seed = await nodes[0].statistics().address
                // Whether the join works is not the point: what it does to the others is.
                _ = try? await d.join([seed])
                try await waitForProbes(nodes, 40)
                let ports = try boundUDPPorts()
                for node in nodes {
                    let port = await node.statistics().address.port
                    #expect(ports.contains(port), "\(node.name) lost its UDP socket (port \(port))")
                    let view = node.members
                    for other in ["a", "b", "c"] {
                        #expect(status(of: other, in: view) == .alive, "\(node.name) sees \(other) as \(String(describing: status(of: other, in: view)))")
                    }
                }
                for (node, log) in zip(nodes, logs) {
                    let bad = log.all.filter { ["a", "b", "c"].contains($0.member.name) && $0.kind == .failed }
                    #expect(bad.isEmpty, "\(node.name) reported \(bad)")
                }
                // The IPv4 members still answer a ping on UDP.
                let prober = try await UDPPeer.bind()
                for (i, node) in nodes.enumerated() {
                    let address = await node.statistics().address
                    let acked = try await prober.ping(address, named: node.name, sequence: UInt32(300 + i))
                    #expect(acked != nil, "\(node.name) no longer answers pings")
                }
                await prober.close()
            }
        } catch {
            Issue.record(error)
        }
        await stranger?.stop()
    }
}
