// User-event dissemination on the simulator at 32, 1,000 and 10,000 members, against the
// push-gossip bound on rounds, and writes Docs/benchmarks/EVENTS-SIMULATION.md with a chart.
//
//   swift run -c release event-sim-bench [--sizes 32,1000,10000] [--events 20] [--out Docs/benchmarks]
//
// Every figure is measured in this run; the bound is computed beside it.
import Foundation
import GossipCore
import GossipSimulator

let args = CommandLine.arguments
func option(_ name: String) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}
let outDir = option("--out") ?? "Docs/benchmarks"
let sizes = (option("--sizes") ?? "32,1000,10000").split(separator: ",").compactMap { Int($0) }
let eventCount = Int(option("--events") ?? "20") ?? 20
let losses = [0.0, 0.05]
let settings = Settings()

struct Result {
    var n: Int
    var loss: Double
    var latencies: [Double] = []  // ms, fire → last live member
    var missed = 0
    var copiesPerMember: Double = 0
    var bytesPerMember: Double = 0
}

/// Serf's way: each member that has the event sends it to `gossipNodes` random members per
/// gossip round. Push gossip with fanout k needs about log_{k+1}(n) + ln(n)/k rounds to reach
/// everyone (Pittel 1987 for k = 1; Frieze and Grimmett 1985), each a gossip interval.
func pushBoundMilliseconds(_ n: Int) -> Double {
    let k = Double(settings.gossipNodes)
    let rounds = Foundation.log(Double(n)) / Foundation.log(k + 1) + Foundation.log(Double(n)) / k
    return rounds * Double(settings.gossipInterval.nanoseconds) / 1e6
}

func measure(n: Int, loss: Double, seed: UInt64) throws -> Result {
    let sim = Simulation(seed: seed, settings: settings, network: NetworkModel(loss: loss))
    let nodes = try sim.addFormedCluster(count: n)
    var firedAt: [String: Duration] = [:]
    var delivered: [String: Int] = [:]
    var lastAt: [String: Duration] = [:]
    sim.observeApplication { _, o in
        switch o {
        case .eventFired(let e): firedAt["\(e.origin)@\(e.time)"] = sim.elapsed
        case .userEvent(let e):
            let key = "\(e.origin)@\(e.time)"
            delivered[key, default: 0] += 1
            lastAt[key] = sim.elapsed
        default: break
        }
    }
    var copies = 0
    var bytes = 0
    sim.transport = { _, messages in
        for m in messages {
            if case .userEvent = m {
                copies += 1
                bytes += m.encodedSize
            }
        }
        return messages
    }
    sim.run(for: .seconds(1))
    var rng = SeededGenerator(seed: seed ^ 0xe7e7)
    var r = Result(n: n, loss: loss)
    for e in 0..<eventCount {
        sim.fireEvent(rng.index(below: nodes.count), name: "e\(e)", payload: Array("payload-\(e)".utf8))
        // Long enough for the gossip retransmits to end, so each event's bytes are its own.
        sim.run(for: .seconds(3))
    }
    for (key, fired) in firedAt {
        if delivered[key] == n, let last = lastAt[key] {
            r.latencies.append(Double((last - fired).nanoseconds) / 1e6)
        } else {
            r.missed += 1
        }
    }
    r.latencies.sort()
    r.copiesPerMember = Double(copies) / Double(eventCount * n)
    r.bytesPerMember = Double(bytes) / Double(eventCount * n)
    return r
}

func median(_ xs: [Double]) -> Double { xs.isEmpty ? .nan : xs[xs.count / 2] }
func f(_ x: Double, _ d: Int = 1) -> String { Chart.fixed(x, d) }

var results: [Result] = []
for n in sizes {
    for loss in losses {
        let start = ContinuousClock.now
        let r = try measure(n: n, loss: loss, seed: 1)
        results.append(r)
        print(
            "n=\(n) loss=\(Int(loss * 100))% median \(f(median(r.latencies))) ms max \(f(r.latencies.last ?? .nan)) ms "
                + "missed \(r.missed) copies/member \(f(r.copiesPerMember, 2)) bytes/member \(f(r.bytesPerMember)) "
                + "bound \(f(pushBoundMilliseconds(n))) ms (wall \(ContinuousClock.now - start))")
    }
}

let L = { (n: Int) in Formulas.retransmitLimit(multiplier: settings.retransmitMultiplier, members: n) }
let fanout = { (n: Int) in Formulas.eagerFanout(members: n, extra: settings.eagerFanoutExtra, retransmitLimit: L(n)) }
var md = """
    # User events on the simulator: time to the last member

    Measured by `swift run -c release event-sim-bench` (Benchmarks/event-sim-bench): a formed cluster
    of N members on the simulator (one-way latency 0.5 ms + up to 0.5 ms jitter), \(eventCount) events
    fired one at a time from random members, 3 s apart, seed 1, default LAN settings. Latency is
    from firing until the last live member delivered the event. Copies are user-event messages
    sent per member per event (eager pushes plus gossip retransmits); bytes are those messages'
    encoded size (framing included, datagram headers and sealing not, 42 bytes per datagram sealed).

    The baseline is the push-gossip bound on rounds, the way Serf spreads an event: each member
    holding it sends it to `gossipNodes` (3) random members per gossip round (200 ms), which needs
    about log₄(N) + ln(N)/3 rounds (Pittel 1987; Frieze and Grimmett 1985). Serf sends each event
    `4 × ceil(log10(N+1))` times per member (memberlist's retransmit limit); Grapevine sends the same
    number of copies, `ceil(ln N + 4)` of them at once (eager push, bounded by the limit minus one)
    and the rest by gossip (Docs/LIBRARY.md, "User events and queries").

    | N | loss | eager fanout | copies/member (Serf's limit) | bytes/member | median | max | missed | push-gossip bound | bound / median |
    | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |

    """
for r in results {
    let bound = pushBoundMilliseconds(r.n)
    md +=
        "| \(r.n) | \(Int(r.loss * 100)) % | \(fanout(r.n)) | \(f(r.copiesPerMember, 2)) (\(L(r.n))) | \(f(r.bytesPerMember)) "
        + "| \(f(median(r.latencies))) ms | \(f(r.latencies.last ?? .nan)) ms | \(r.missed) | \(f(bound)) ms | \(f(bound / median(r.latencies), 0))× |\n"
}
md += """

    "Missed" counts events some live member had not delivered by the next event (3 s later); push/pull
    (every 30 s and more) delivers those afterwards, as the exactly-once tests show
    (Tests/GossipSimulatorTests/UserEventTests.swift).

    ![latency](events-simulation.svg)
    """
let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
var series: [Chart.Series] = []
for (i, r) in results.enumerated() {
    series.append(
        Chart.Series(
            label: "N=\(r.n) loss \(Int(r.loss * 100))%", color: colors[i % colors.count],
            points: r.latencies.enumerated().map { (x: Double($0.offset + 1), y: $0.element) }))
}
let svg = Chart.svg(
    series: series, title: "Fire to last member, \(eventCount) events each (sorted)", xLabel: "event (sorted)", yLabel: "ms")
try md.write(toFile: "\(outDir)/EVENTS-SIMULATION.md", atomically: true, encoding: .utf8)
try svg.write(toFile: "\(outDir)/events-simulation.svg", atomically: true, encoding: .utf8)
print("wrote \(outDir)/EVENTS-SIMULATION.md")
