import GossipCore
import GossipSimulator
import Testing

/// User events on the simulator: delivered exactly once everywhere, under loss, across joins
/// and restarts, fast (pushed eagerly), bounded in size.
@Suite struct UserEventTests {
    /// Every delivery, as (node, origin, time) → how many times.
    final class Deliveries {
        var count: [Int: [String: Int]] = [:]
        var firstAt: [String: Duration] = [:]
        var lastAt: [String: Duration] = [:]
        var refused: [RequestError] = []

        func install(on sim: Simulation) {
            sim.observeApplication { i, o in
                switch o {
                case .userEvent(let e):
                    let key = "\(e.origin)@\(e.time)"
                    self.count[i, default: [:]][key, default: 0] += 1
                    if self.firstAt[key] == nil { self.firstAt[key] = sim.elapsed }
                    self.lastAt[key] = sim.elapsed
                case .requestRefused(_, let error): self.refused.append(error)
                default: break
                }
            }
        }

        /// Nodes in `nodes` that do not hold exactly `keys`, each once.
        func wrong(_ nodes: some Sequence<Int>, keys: Set<String>) -> [Int] {
            nodes.filter { i in
                let got = count[i] ?? [:]
                return Set(got.keys) != keys || got.values.contains { $0 != 1 }
            }
        }
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func fiftyEventsReachEveryOneOfAThousandNodesExactlyOnceUnderLoss(seed: UInt64) throws {
        let sim = Simulation(seed: seed, network: NetworkModel(loss: 0.05))
        let nodes = try sim.addFormedCluster(count: 1_000)
        let d = Deliveries()
        d.install(on: sim)
        var rng = SeededGenerator(seed: seed)
        var keys = Set<String>()
        var clocks: [Int: UInt64] = [:]
        for e in 0..<50 {
            let origin = rng.index(below: nodes.count)
            let time = clocks[origin] ?? 0
            // An origin stamps with its own clock, which has seen every earlier event by now.
            sim.fireEvent(origin, name: "deploy-\(e)", payload: Array("v\(e)".utf8))
            sim.run(for: .milliseconds(200))
            let stamped = sim.core(origin).eventClock - 1
            #expect(stamped >= time)
            clocks[origin] = stamped + 1
            keys.insert("\(sim.name(of: origin))@\(stamped)")
        }
        #expect(keys.count == 50)
        let all = sim.run(upTo: .seconds(120)) { d.wrong(nodes, keys: keys).isEmpty }
        #expect(all, "seed \(seed): \(d.wrong(nodes, keys: keys).count) nodes without every event once")
        sim.run(for: .seconds(30))
        #expect(d.wrong(nodes, keys: keys).isEmpty, "seed \(seed): a late copy was delivered twice")
        #expect(sim.metrics.suspicions == 0 || sim.metrics.converged)
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func anEventReachesAllOfAHundredNodesInAFewRoundTripsWithoutLoss(seed: UInt64) throws {
        let sim = Simulation(seed: seed)
        let nodes = try sim.addFormedCluster(count: 100)
        let d = Deliveries()
        d.install(on: sim)
        sim.run(for: .seconds(1))
        let fired = sim.elapsed
        sim.fireEvent(0, name: "now")
        #expect(sim.run(upTo: .seconds(10)) { d.wrong(nodes, keys: ["node-0@0"]).isEmpty })
        // Gossip alone needs gossip rounds (200 ms each); the eager push needs hops of the
        // simulated one-way latency (at most 1 ms each).
        let last = try #require(d.lastAt["node-0@0"])
        #expect(last - fired < .milliseconds(200), "seed \(seed): last delivery \(last - fired) after firing")
    }

    @Test func anEventOverTheLimitIsRefusedAndNothingIsSent() throws {
        let sim = Simulation(seed: 1)
        try sim.addFormedCluster(count: 3)
        let d = Deliveries()
        d.install(on: sim)
        var settings = Settings()
        settings.userEventSizeLimit = 100
        #expect(throws: RequestError.tooLarge(size: 101, limit: 100)) {
            try settings.check(userEvent: "e", payload: [UInt8](repeating: 1, count: 100))
        }
        sim.fireEvent(0, name: "big", payload: [UInt8](repeating: 7, count: 2_000))
        sim.fireEvent(0, name: "bad\nname")
        sim.run(for: .seconds(2))
        #expect(d.count.isEmpty)
        #expect(d.refused.count == 2)
        #expect(sim.core(0).counters.requestsRefused == 2)
        #expect(sim.core(0).eventClock == 0, "a refused event must not stamp the clock")
    }

    /// A node that joins later takes the clock but not the old events, unless it asks.
    @Test(arguments: [false, true])
    func aJoiningNodeGetsOldEventsOnlyWhenItAsksForThem(replay: Bool) throws {
        let sim = Simulation(seed: 4)
        let nodes = try sim.addFormedCluster(count: 5)
        let d = Deliveries()
        d.install(on: sim)
        for e in 0..<3 { sim.fireEvent(e, name: "old-\(e)") }
        sim.run(for: .seconds(5))
        #expect(d.wrong(nodes, keys: ["node-0@0", "node-1@0", "node-2@0"]).isEmpty)
        let late = try sim.addNode()
        sim.join(late, through: [0], replayEvents: replay)
        #expect(sim.run(upTo: .seconds(30)) { sim.metrics.converged })
        sim.run(for: .seconds(2))
        #expect((d.count[late]?.count ?? 0) == (replay ? 3 : 0))
        #expect(sim.core(late).eventClock >= 1, "the joiner must have taken the cluster's event clock")
        sim.fireEvent(late, name: "new")
        sim.run(for: .milliseconds(10))
        let t = sim.core(late).eventClock - 1
        sim.run(for: .seconds(5))
        for i in nodes { #expect(d.count[i]?["node-5@\(t)"] == 1) }
    }

    /// A restarted node resumes its clocks from the snapshot: the events it delivered before
    /// are not delivered again when push/pull offers them, those it missed while down are.
    @Test func aRestartedNodeDeliversWhatItMissedAndNothingTwice() throws {
        let sim = Simulation(seed: 5)
        let nodes = try sim.addFormedCluster(count: 6)
        let d = Deliveries()
        d.install(on: sim)
        sim.fireEvent(0, name: "before")
        sim.run(for: .seconds(3))
        sim.crash(5)
        sim.fireEvent(1, name: "while-down")
        sim.run(for: .seconds(2))
        try sim.restart(5)
        #expect(sim.run(upTo: .seconds(60)) { d.count[5]?["node-1@1"] != nil })
        sim.run(for: .seconds(40))
        #expect(d.count[5]?["node-0@0"] == 1, "delivered again after the restart")
        #expect(d.count[5]?["node-1@1"] == 1)
        #expect(d.wrong(nodes, keys: ["node-0@0", "node-1@1"]).isEmpty)
    }

    @Test func sameNamedCoalescableEventsAreDeliveredOnceAsTheNewest() throws {
        var settings = Settings()
        settings.userEventCoalescePeriod = .seconds(1)
        let sim = Simulation(seed: 6, settings: settings)
        try sim.addFormedCluster(count: 4)
        var delivered: [Int: [String]] = [:]
        sim.observeApplication { i, o in
            if case .userEvent(let e) = o { delivered[i, default: []].append("\(e.name):\(String(decoding: e.payload, as: UTF8.self))") }
        }
        for v in 0..<5 {
            sim.fireEvent(0, name: "config", payload: Array("v\(v)".utf8), coalesce: true)
            sim.run(for: .milliseconds(50))
        }
        sim.fireEvent(0, name: "restart", payload: Array("x".utf8), coalesce: false)
        sim.run(for: .seconds(3))
        for i in 0..<4 {
            #expect(delivered[i]?.sorted() == ["config:v4", "restart:x"], "node \(i): \(delivered[i] ?? [])")
        }
    }
}

/// A member that fires events without pause: each receiver's eager pushes stay within the
/// round's budget, and a crash is detected as fast as in a quiet cluster.
@Suite struct EventFloodTests {
    static func detection(seed: UInt64, flood: Int) throws -> (last: Duration, maxEagerPerRound: Int)? {
        let sim = Simulation(seed: seed)
        let nodes = try sim.addFormedCluster(count: 40)
        sim.run(for: .seconds(2))
        var eagerBefore = nodes.map { sim.core($0).counters.eagerPushes }
        var maxPerRound = 0
        for e in 0..<flood { sim.fireEvent(7, name: "flood-\(e % 5)", payload: [UInt8](repeating: 1, count: 200)) }
        sim.crash(20)
        let start = sim.elapsed
        var detected = false
        for _ in 0..<300 where !detected {
            sim.run(for: Settings().gossipInterval)
            for i in nodes {
                let now = sim.core(i).counters.eagerPushes
                maxPerRound = max(maxPerRound, now - eagerBefore[i])
                eagerBefore[i] = now
            }
            detected = nodes.allSatisfy { $0 == 20 || sim.core($0).member(named: "node-20")?.status == .failed }
        }
        return detected ? (sim.elapsed - start, maxPerRound) : nil
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func aFloodOfEventsIsBoundedAndDoesNotDelayFailureDetection(seed: UInt64) throws {
        let quiet = try #require(try Self.detection(seed: seed, flood: 0))
        let loaded = try #require(try Self.detection(seed: seed, flood: 5_000))
        let budget = Settings().eagerPushesPerRound
        // A round's budget, plus the pushes of one input that started inside it.
        #expect(loaded.maxEagerPerRound <= 2 * budget, "seed \(seed): \(loaded.maxEagerPerRound) eager pushes in one round")
        // One protocol period of slack covers the different random draws of the two runs.
        #expect(loaded.last <= quiet.last + .seconds(1), "seed \(seed): detected after \(loaded.last) vs \(quiet.last)")
    }
}
