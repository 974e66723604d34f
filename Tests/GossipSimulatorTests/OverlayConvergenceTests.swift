import Addresses
import GossipCore
import GossipSimulator
import Overlay
import Testing

/// Issue 11's overlay "must show" on the simulator. Hosts publish their VTEP and endpoints as
/// replicated rows (`OverlayRow`, table `overlay`). Each host's desired kernel state is
/// computed from its own replica and held to an oracle's: the desired state computed from
/// what the hosts wrote.
@Suite struct OverlayConvergenceTests {
    static let networks = (0..<5).map { VNI(4096 + UInt32($0))! }
    static let perNetwork = 4

    /// The hosts of a simulation as the overlay sees them, and the truth of what each wrote.
    final class Hosts {
        let sim: Simulation
        let nodes: Range<Int>
        /// What each host wrote last: owner → state key → value.
        var truth: [String: [String: [UInt8]]] = [:]
        /// Each host's endpoints as it last wrote them, by state key.
        var endpoints: [[String: Endpoint]]
        /// One clock for every claim: a real Lamport clock orders causally related claims the
        /// same way, and this one orders the rest too, so each conflict has one right answer.
        var claims: UInt64 = 0
        var nextIP: UInt32 = 0

        init(_ sim: Simulation, _ nodes: Range<Int>) {
            self.sim = sim
            self.nodes = nodes
            endpoints = Array(repeating: [:], count: nodes.count)
        }

        func vtep(_ i: Int) -> IPAddress { .v4(0x0A00_0000 | UInt32(i + 1)) }
        func host(_ i: Int) -> Overlay.Host { Overlay.Host(name: sim.name(of: i), vtep: vtep(i), networks: Set(networks)) }
        func mac(_ i: Int, slot: Int) -> MACAddress { MACAddress(value: 0x0200_0000_0000 | UInt64(i) << 16 | UInt64(slot)) }
        func freshIP() -> IPAddress {
            nextIP += 1
            return .v4(0x6400_0000 | nextIP)
        }

        func publishHost(_ i: Int) {
            write(i, .host(vtep: vtep(i), networks: Set(networks)))
        }

        /// Host `i` claims `e` now (a newer claim than any before).
        func claim(_ i: Int, _ e: Endpoint) {
            var e = e
            claims += 1
            e.claim = Claim(time: claims, owner: sim.name(of: i))
            endpoints[i][OverlayRow.endpoint(e).stateKey] = e
            write(i, .endpoint(e))
        }

        func withdraw(_ i: Int, key: String) {
            endpoints[i][key] = nil
            sim.deleteRow(i, table: OverlayRow.table, key: key)
            truth[sim.name(of: i), default: [:]][key] = nil
        }

        private func write(_ i: Int, _ row: OverlayRow) {
            let value = try! row.value()
            sim.writeRow(i, table: OverlayRow.table, key: row.stateKey, value: value)
            truth[sim.name(of: i), default: [:]][row.stateKey] = value
        }

        /// Each host publishes itself and 20 endpoints, 4 in each of the 5 networks, at a random
        /// moment of the next `over` (hosts whose agents start one after another).
        func publishAll(over: Duration, rng: inout SeededGenerator) {
            let order = nodes.map { ($0, rng.index(below: 1_000)) }.sorted { $0.1 < $1.1 }
            let step = over / max(1, order.count)
            for (i, _) in order {
                sim.run(for: step)
                publishHost(i)
                for slot in 0..<(networks.count * perNetwork) {
                    let e = Endpoint(network: networks[slot / perNetwork], mac: mac(i, slot: slot), ipv4: freshIP(),
                                     name: "c\(i)-\(slot)", claim: Claim(time: 0, owner: ""))
                    claim(i, e)
                }
            }
        }

        /// One endpoint change from a random host: a new address, an address taken from another
        /// endpoint (a conflict), a container stopped or started, or a container that moved
        /// here from another host (a MAC conflict, the old host withdrawing it half the time).
        func change(_ rng: inout SeededGenerator) {
            let i = nodes[rng.index(below: nodes.count)]
            let keys = endpoints[i].keys.sorted()
            let r = rng.index(below: 100)
            if r < 60, let key = keys.isEmpty ? nil : keys[rng.index(below: keys.count)] {
                var e = endpoints[i][key]!
                e.ipv4 = freshIP()
                claim(i, e)
            } else if r < 75, let key = keys.isEmpty ? nil : keys[rng.index(below: keys.count)] {
                let j = nodes[rng.index(below: nodes.count)]
                var e = endpoints[i][key]!
                guard let other = endpoints[j].values.first(where: { $0.network == e.network && $0.mac != e.mac }) else { return }
                e.ipv4 = other.ipv4
                claim(i, e)
            } else if r < 90 {
                let slot = rng.index(below: networks.count * perNetwork)
                let e = Endpoint(network: networks[slot / perNetwork], mac: mac(i, slot: slot), ipv4: freshIP(),
                                 name: "c\(i)-\(slot)", claim: Claim(time: 0, owner: ""))
                let key = OverlayRow.endpoint(e).stateKey
                if endpoints[i][key] != nil { withdraw(i, key: key) } else { claim(i, e) }
            } else {
                let j = nodes[rng.index(below: nodes.count)]
                guard j != i, let (key, moved) = endpoints[j].min(by: { $0.key < $1.key }) else { return }
                claim(i, moved)
                if rng.index(below: 2) == 0 { withdraw(j, key: key) }
            }
        }

        /// Host `j`'s replica, as its core holds it.
        func replica(_ j: Int) -> Replica {
            let core = sim.core(j)
            var replica = Replica()
            for owner in core.stateOwners {
                let live = core.isOwnerAvailable(owner)
                for r in core.stateRows(of: owner) where r.table == OverlayRow.table {
                    try! replica.add(stateKey: r.key, value: r.value, owner: owner, live: live)
                }
            }
            return replica
        }

        /// The replica every host should hold: what the running hosts wrote, all live.
        func truthReplica() -> Replica {
            var replica = Replica()
            for i in nodes where sim.isRunning(i) {
                for (key, value) in truth[sim.name(of: i)] ?? [:] {
                    try! replica.add(stateKey: key, value: value, owner: sim.name(of: i), live: true)
                }
            }
            return replica
        }

        /// Running hosts among `pending` whose replica of some running owner differs from the
        /// owner's own rows (by digest hash; the exact check is `desiredStatesDiffering`).
        func behind(_ pending: [Int]) -> [Int] {
            let owners = nodes.filter { sim.isRunning($0) }.map { (sim.name(of: $0), sim.core($0).stateHash(of: sim.name(of: $0))) }
            return pending.filter { j in
                guard sim.isRunning(j) else { return false }
                let core = sim.core(j)
                return owners.contains { core.stateHash(of: $0.0) != $0.1 } || core.stateOwners.count != owners.count
            }
        }

        /// Runs in steps of one second until no host is behind or `limit` passed; returns the
        /// time it took, or nil. Only hosts behind at the last check are checked again: with no
        /// writes under way, a replica that caught up stays caught up.
        func converge(limit: Duration) -> Duration? {
            let start = sim.elapsed
            var pending = Array(nodes)
            while sim.elapsed - start <= limit {
                // While the first host still behind stays behind, the others need no check.
                if let first = pending.first, !behind([first]).isEmpty {
                    sim.run(for: .seconds(1))
                    continue
                }
                pending = behind(pending)
                if pending.isEmpty { return sim.elapsed - start }
                sim.run(for: .seconds(1))
            }
            return nil
        }

        /// Whether host `j` holds exactly the rows the running hosts wrote, no more, each of their
        /// owners available: the replica's raw rows against the oracle's, byte for byte. Equal
        /// rows and liveness give an equal `Replica` (a pure function of them), so this is at
        /// least as strict as comparing replicas, without decoding 21,000 rows per host.
        func holdsTruth(_ j: Int, written: [String: [String: [UInt8]]]) -> Bool {
            let core = sim.core(j)
            var owners = 0
            for owner in core.stateOwners {
                let rows = core.stateRows(of: owner).filter { $0.table == OverlayRow.table }
                if rows.isEmpty { continue }
                guard let want = written[owner], rows.count == want.count, core.isOwnerAvailable(owner) else { return false }
                for r in rows where want[r.key] != r.value { return false }
                owners += 1
            }
            return owners == written.count
        }

        /// Running hosts whose desired state, from their own replica, differs from the oracle's.
        /// Every host's rows are compared with the oracle's exactly (`holdsTruth`: rows and
        /// liveness, of which the desired state is a pure function), and the desired states of
        /// `sample` hosts (all without it) are computed and compared (each costs a pass over
        /// every endpoint).
        func desiredStatesDiffering(sample: Int? = nil) -> [Int] {
            let truth = truthReplica()
            var written: [String: [String: [UInt8]]] = [:]
            for i in nodes where sim.isRunning(i) {
                if let rows = self.truth[sim.name(of: i)], !rows.isEmpty { written[sim.name(of: i)] = rows }
            }
            let computed = Set(sample.map { k in nodes.filter { $0 % max(1, nodes.count / k) == 0 } } ?? Array(nodes))
            return nodes.filter { j in
                guard sim.isRunning(j) else { return false }
                if !holdsTruth(j, written: written) { return true }
                guard computed.contains(j) else { return false }
                return DesiredState(for: host(j), from: replica(j)) != DesiredState(for: host(j), from: truth)
            }
        }
    }

    /// A formed cluster whose hosts published their rows over a minute, run until every replica
    /// holds them all; nil if they never did.
    static func published(count: Int, seed: UInt64, loss: Double) throws -> Hosts? {
        let sim = Simulation(seed: seed, network: NetworkModel(loss: loss))
        let hosts = Hosts(sim, try sim.addFormedCluster(count: count))
        var rng = SeededGenerator(seed: seed ^ 0x0b)
        hosts.publishAll(over: .seconds(60), rng: &rng)
        let took = hosts.converge(limit: .seconds(1_800))
        print("seed \(seed), \(count) hosts: \(count * 21) rows published over 60 s held by every replica \(took.map { "\($0)" } ?? "never") later")
        return took == nil ? nil : hosts
    }

    static func converged(count: Int, seed: UInt64, loss: Double) throws -> Hosts {
        guard let hosts = try published(count: count, seed: seed, loss: loss) else {
            throw SimulationFailure("seed \(seed): the published rows never reached every replica")
        }
        return hosts
    }

    static func churn(_ hosts: Hosts, perSecond: Int, seconds: Int, rng: inout SeededGenerator) {
        let step = Duration.seconds(1) / perSecond
        for _ in 0..<(perSecond * seconds) {
            hosts.change(&rng)
            hosts.sim.run(for: step)
        }
    }

    struct ChurnOutcome: Sendable {
        var published = false
        var caughtUp: Duration?
        var differing: [Int] = []
        /// Unicast rows in the oracle's desired state of one host: the check compares something.
        var oracleUnicast = 0
    }

    /// 20 endpoints per host in 5 networks, 100 endpoint changes per second for 60 s under 5 %
    /// loss; when the changes stop, every host's desired state should equal the oracle's.
    static func churnUnderLoss(count: Int, seed: UInt64) throws -> ChurnOutcome {
        var outcome = ChurnOutcome()
        guard let hosts = try published(count: count, seed: seed, loss: 0.05) else { return outcome }
        outcome.published = true
        var rng = SeededGenerator(seed: seed)
        churn(hosts, perSecond: 100, seconds: 60, rng: &rng)
        outcome.caughtUp = hosts.converge(limit: .seconds(900))
        outcome.differing = hosts.desiredStatesDiffering(sample: count > 100 ? 50 : nil)
        print("seed \(seed), \(count) hosts: every replica caught up \(outcome.caughtUp.map { "\($0)" } ?? "never") after 6,000 endpoint changes stopped; desired states differing from the oracle's: \(outcome.differing.count)")
        let first = hosts.nodes.lowerBound
        outcome.oracleUnicast = DesiredState(for: hosts.host(first), from: hosts.truthReplica()).networks[networks[0]]?.unicast.count ?? 0
        return outcome
    }

    static func expectConverged(_ o: ChurnOutcome, seed: UInt64) {
        #expect(o.published, "seed \(seed)")
        #expect(o.caughtUp != nil, "seed \(seed)")
        #expect(o.differing.isEmpty, "seed \(seed): hosts \(o.differing.prefix(5))")
        #expect(o.oracleUnicast > 0, "seed \(seed)")
    }

    @Test(arguments: [1] as [UInt64])
    func aThousandHostsConvergeUnderLossAndChurn(seed: UInt64) async throws {
        Self.expectConverged(try Self.churnUnderLoss(count: 1_000, seed: seed), seed: seed)
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func aHundredHostsConvergeUnderLossAndChurn(seed: UInt64) async throws {
        Self.expectConverged(try Self.churnUnderLoss(count: 100, seed: seed), seed: seed)
    }

    /// A crashed host's rows leave each other host's desired state when that host declares it
    /// failed: no flood destination, unicast row or neighbour row leads to its VTEP any more.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func aCrashedHostLeavesEveryDesiredStateAtDetection(seed: UInt64) async throws {
        do {
            let hosts = try Self.converged(count: 100, seed: seed, loss: 0.05)
            let sim = hosts.sim
            let victim = 17
            let name = sim.name(of: victim)
            let vtep = hosts.vtep(victim)
            let victimMACs = Set(hosts.endpoints[victim].values.map(\.mac))
            func leadsToVictim(_ j: Int) -> Bool {
                let d = DesiredState(for: hosts.host(j), from: hosts.replica(j))
                return d.networks.values.contains { n in
                    n.flood.contains(vtep) || n.unicast.values.contains(vtep) || n.neighbors.values.contains { victimMACs.contains($0) }
                }
            }
            #expect(leadsToVictim(0))
            var stale: [Int] = []
            var withdrawn = 0
            sim.observeEvents { j, e in
                guard e.kind == .failed, e.member.name == name else { return }
                withdrawn += 1
                if leadsToVictim(j) { stale.append(j) }
            }
            let crashedAt = sim.elapsed
            sim.crash(victim)
            let all = sim.run(upTo: .seconds(120)) { withdrawn == hosts.nodes.count - 1 }
            print("seed \(seed): a crashed host's rows left every other desired state \(sim.elapsed - crashedAt) after the crash")
            #expect(all)
            #expect(stale.isEmpty)
        }
    }

    /// Both halves of a 60 s partition keep changing endpoints; after the heal every host's
    /// desired state equals the oracle's.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func aPartitionHealsToTheOraclesDesiredState(seed: UInt64) async throws {
        do {
            let hosts = try Self.converged(count: 100, seed: seed, loss: 0.01)
            hosts.sim.partition { $0 % 2 }
            var rng = SeededGenerator(seed: seed)
            Self.churn(hosts, perSecond: 20, seconds: 60, rng: &rng)
            hosts.sim.heal()
            let took = hosts.converge(limit: .seconds(900))
            // Owners failed across the cut come back available once the halves see each other alive.
            var equal = hosts.desiredStatesDiffering().isEmpty
            for _ in 0..<300 where !equal {
                hosts.sim.run(for: .seconds(1))
                equal = hosts.desiredStatesDiffering().isEmpty
            }
            print("seed \(seed): after a 60 s partition every replica caught up \(took.map { "\($0)" } ?? "never") after the heal")
            #expect(took != nil)
            #expect(equal, "seed \(seed): \(hosts.desiredStatesDiffering().count) hosts differ")
        }
    }

    /// A host restarted from its snapshot republishes itself and only some of its endpoints:
    /// every desired state converges to its new rows, with none of its previous life's.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func aRestartedHostsNewRowsReplaceItsOldOnes(seed: UInt64) async throws {
        do {
            let hosts = try Self.converged(count: 100, seed: seed, loss: 0.05)
            let sim = hosts.sim
            let owner = 42
            let before = hosts.endpoints[owner]
            sim.crash(owner)
            sim.run(for: .seconds(5))
            try sim.restart(owner)
            hosts.truth[sim.name(of: owner)] = [:]
            hosts.endpoints[owner] = [:]
            hosts.publishHost(owner)
            for e in before.values.sorted(by: { $0.mac < $1.mac }).prefix(3) {
                var moved = e
                moved.ipv4 = hosts.freshIP()
                hosts.claim(owner, moved)
            }
            let took = hosts.converge(limit: .seconds(600))
            let differing = hosts.desiredStatesDiffering()
            print("seed \(seed): a restarted host's new rows reached every replica \(took.map { "\($0)" } ?? "never") after it wrote them")
            #expect(took != nil)
            #expect(differing.isEmpty, "seed \(seed): hosts \(differing.prefix(5))")
            #expect(hosts.nodes.allSatisfy { sim.core($0).stateRows(of: sim.name(of: owner)).count == 4 })
        }
    }
}
