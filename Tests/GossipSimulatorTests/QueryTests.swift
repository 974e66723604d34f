import GossipCore
import GossipSimulator
import Testing

/// Queries on the simulator: the filters select exactly the matching live members, each
/// answers once, the asker's sequence ends as soon as all have answered, relays carry answers
/// across a lossy path, and bad queries are refused.
@Suite struct QueryTests {
    /// Everything one asker saw of its queries, and every node answering with its own name.
    final class Asker {
        var acks: [QueryID: [String]] = [:]
        var responses: [QueryID: [String]] = [:]
        var ended: [QueryID: (QueryEnd, Duration)] = [:]
        var offered: [Int: Int] = [:]
        var refused: [RequestError] = []

        init(_ sim: Simulation, answering: Bool = true) {
            sim.observeApplication { i, o in
                switch o {
                case .query(let q):
                    self.offered[i, default: 0] += 1
                    if answering { sim.respond(i, to: q.responder, payload: Array(sim.name(of: i).utf8)) }
                case .queryAck(let id, let from): self.acks[id, default: []].append(from)
                case .queryResponse(let id, let from, let payload):
                    #expect(String(decoding: payload, as: UTF8.self) == from)
                    self.responses[id, default: []].append(from)
                case .queryFinished(let id, let end): self.ended[id] = (end, sim.elapsed)
                case .requestRefused(_, let e): self.refused.append(e)
                default: break
                }
            }
        }
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func aTagFilteredQueryIsAnsweredByExactlyTheMatchingLiveNodes(seed: UInt64) throws {
        let sim = Simulation(seed: seed, network: NetworkModel(loss: 0.05))
        let nodes = try sim.addFormedCluster(count: 1_000)
        var rng = SeededGenerator(seed: seed)
        var web = Set<String>()
        for i in nodes where rng.index(below: 10) == 0 {
            sim.setTags(i, ["role": "web-\(i)"])
            web.insert(sim.name(of: i))
        }
        // webhook-… must not match the anchored pattern web-\d+.
        sim.setTags(3, ["role": "webhook-3"])
        web.remove(sim.name(of: 3))
        let crashed = nodes.first { web.contains(sim.name(of: $0)) }!
        sim.crash(crashed)
        web.remove(sim.name(of: crashed))
        sim.run(for: .seconds(60))
        let asker = Asker(sim)
        let start = sim.elapsed
        // Each answer is one datagram, 5 % of which are lost: three relays per answer are what
        // carries every answer home (Serf's -relay-factor, for lossy paths).
        let id = sim.query(
            0, QueryRequest(name: "who", filters: [.tag(key: "role", pattern: try FilterPattern("web-\\d+"))], relayFactor: 3))
        #expect(sim.run(upTo: .seconds(30)) { asker.ended[id] != nil })
        let responders = asker.responses[id] ?? []
        #expect(Set(responders) == web, "seed \(seed): \(Set(responders).symmetricDifference(web).sorted())")
        #expect(responders.count == Set(responders).count, "a member answered twice")
        let (end, at) = try #require(asker.ended[id])
        #expect(end == .allResponded)
        // Serf's default timeout for 1,000 members is 9.6 s: ending on the last answer is the point.
        #expect(at - start < Formulas.queryTimeout(gossipInterval: .milliseconds(200), multiplier: 16, members: 1_000))
        #expect(asker.offered.keys.allSatisfy { web.contains(sim.name(of: $0)) })
    }

    @Test func aQueryEndsAtItsTimeoutWhenASelectedMemberStaysSilent() throws {
        let sim = Simulation(seed: 7)
        try sim.addFormedCluster(count: 5)
        let asker = Asker(sim, answering: false)
        let id = sim.query(0, QueryRequest(name: "q", filters: [.nodes(["node-2", "node-3"])], timeout: .seconds(2)))
        sim.run(for: .seconds(3))
        #expect(Set(asker.acks[id] ?? []) == ["node-2", "node-3"])
        #expect(asker.responses[id] == nil)
        #expect(asker.ended[id]?.0 == .timeout(missing: 2))
    }

    /// With the asker's link from one responder cut, the answer still arrives through relays.
    @Test(arguments: [1, 2] as [UInt64])
    func relaysCarryAnswersAcrossABrokenPath(seed: UInt64) throws {
        let sim = Simulation(seed: seed)
        try sim.addFormedCluster(count: 8)
        let asker = Asker(sim)
        let node0 = sim.address(of: 0)
        var dropped = 0
        sim.transport = { to, messages in
            // node-5's answers to node-0 are lost; relays through others are not.
            guard to == node0, messages.contains(where: { if case .queryResponse(let r) = $0 { r.from == "node-5" } else { false } })
            else { return messages }
            if messages.contains(where: { if case .queryResponse(let r) = $0 { r.from == "node-5" && !r.isAck } else { false } }) {
                dropped += 1
                // Forwarded by a relay, the response arrives as its own datagram from the relay:
                // only the first direct copy is dropped here.
                if dropped == 1 { return nil }
            }
            return messages
        }
        let id = sim.query(0, QueryRequest(name: "q", filters: [.nodes(["node-5"])], timeout: .seconds(5), relayFactor: 2))
        sim.run(for: .seconds(6))
        #expect(asker.responses[id] == ["node-5"])
        #expect(asker.ended[id]?.0 == .allResponded)
        var relayed = 0
        for i in 0..<8 { relayed += sim.core(i).counters.relaysForwarded }
        #expect(relayed >= 1)
    }

    @Test func badQueriesAreRefusedWithTheReason() throws {
        let sim = Simulation(seed: 8)
        try sim.addFormedCluster(count: 3)
        let asker = Asker(sim)
        sim.query(0, QueryRequest(name: "q", timeout: .seconds(3_600)))
        sim.query(0, QueryRequest(name: "q", relayFactor: 9))
        sim.query(0, QueryRequest(name: "q", payload: [UInt8](repeating: 0, count: 5_000)))
        sim.query(0, QueryRequest(name: "q", filters: Array(repeating: .nodes(["a"]), count: 17)))
        sim.run(for: .seconds(1))
        #expect(asker.refused.count == 4)
        #expect(asker.offered.isEmpty)
        #expect(throws: FilterPatternError.self) { try FilterPattern("(a|") }
    }

    /// An answer goes only to where the asker is known to live: a query naming another
    /// address (a forged query aiming replies at a third party) gets none.
    @Test func aQueryWithAForgedOriginAddressIsNotAnswered() throws {
        let sim = Simulation(seed: 9)
        try sim.addFormedCluster(count: 3)
        let asker = Asker(sim)
        let victim = Address(ipv4: 0x0A00_00FE, port: 7946)
        var toVictim = 0
        sim.transport = { to, messages in
            if to == victim { toVictim += 1 }
            return messages
        }
        let forged = QueryMessage(
            time: 0, id: 1, origin: "node-0", originAddress: victim, wantsAck: true, relayFactor: 0,
            timeoutMilliseconds: 1_000, filters: [], name: "q", payload: [])
        sim.inject(1, datagram: [.query(forged)], from: sim.address(of: 0))
        sim.run(for: .seconds(2))
        #expect(toVictim == 0)
        #expect(asker.offered[1] == nil)
        #expect(sim.core(1).counters.refusals[.unknownQueryOrigin] >= 1)
    }
}
