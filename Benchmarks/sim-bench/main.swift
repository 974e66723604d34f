// Measures the simulator and the protocol, and writes Docs/benchmarks/SIMULATION.md with charts.
//
//   swift run -c release sim-bench [--quick] [--sizes 2000,3000] [--out Docs/benchmarks]
//
// Every figure is measured in this run; the formulas are printed beside them as the baseline.
import Foundation
import GossipCore
import GossipSimulator

let args = CommandLine.arguments
let quick = args.contains("--quick")
func option(_ name: String) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}
let outDir = option("--out") ?? "Docs/benchmarks"
let sizes = (option("--sizes") ?? (quick ? "1000" : "1000,2000,3000")).split(separator: ",").compactMap { Int($0) }
let seeds: [UInt64] = quick ? [1] : [1, 2, 3]
let settings = Settings()

func seconds(_ d: Duration?) -> Double? { d.map { Double($0.nanoseconds) / 1e9 } }
func f(_ x: Double?, _ digits: Int = 2) -> String { x.map { Chart.fixed($0, digits) } ?? "n/a" }
/// User plus system CPU seconds of this process so far.
func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

/// The process's peak resident memory so far, in GB (Linux reports kilobytes).
func peakMemoryGB() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1_048_576
}

func wall(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// The 1-, 5- and 15-minute load averages.
func loadAverage() -> String {
    ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "").split(separator: " ").prefix(3).joined(separator: " ")
}
let loadAtStart = loadAverage()
let loadAverageAtEnd = "LOAD_AT_END"

var md = """
    # Simulation benchmarks

    Measured by `swift run -c release sim-bench` on this project's 2-core machine kind; the
    figures below are from the run that wrote this file. The machine is shared with other
    builds: the load average was \(loadAtStart) when the run began (\(loadAverageAtEnd) at
    the end), so wall times are, if anything, pessimistic; CPU times are given beside them.
    Every protocol figure is the mean over
    seeds \(seeds.map(String.init).joined(separator: ", ")); the formulas next to them are the
    baselines from SWIM (DSN 2002) and Lifeguard (arXiv 1707.00788) with the default LAN settings
    (probe interval 1 s, suspicion multiplier 4, max suspicion multiplier 6, gossip every 200 ms to 3).


    """

// MARK: protocol against the formulas

struct Row {
    var n: Int
    var convergence: [Double] = []
    var first: [Double] = []
    var last: [Double] = []
    var falsePositives = 0
    var bytesPerNodeSecond: [Double] = []
}

var rows: [Row] = []
for n in [10, 100, 1000] {
    var row = Row(n: n)
    for seed in seeds {
        var o = ScenarioOptions()
        o.nodes = n
        o.seed = seed
        o.duration = .seconds(90)
        let r = try Scenario.crash.run(o)
        if let c = seconds(r.convergence) { row.convergence.append(c) }
        if let x = seconds(r.firstDetection) { row.first.append(x) }
        if let x = seconds(r.lastDetection) { row.last.append(x) }
        row.falsePositives += r.falsePositives
        row.bytesPerNodeSecond.append(r.bytesPerNodeSecond)
        print("N=\(n) seed=\(seed): converged \(f(seconds(r.convergence))) s, detection \(f(seconds(r.firstDetection))) / \(f(seconds(r.lastDetection))) s, fp \(r.falsePositives)")
    }
    rows.append(row)
}

func mean(_ xs: [Double]) -> Double? { xs.isEmpty ? nil : xs.reduce(0, +) / Double(xs.count) }

// SWIM: the expected time until some member first probes a failed one is T / (1 - e^-1).
let firstProbe = 1.0 / (1.0 - 1.0 / 2.718281828459045)
md += """
    ## Detection and convergence against the formulas

    A cluster of N boots with joins spread over the first 5 s through 3 seeds; "convergence" is the
    virtual time from the first start until every node sees every other alive. Five seconds later
    one node crashes; "first" and "last" detection are the times from the crash until the first
    and the last live member declares it failed.

    The baselines: SWIM's expected time to the first probe of a failed member is
    T / (1 - 1/e) = \(f(firstProbe)) s; then Lifeguard's suspicion runs between its minimum
    `4 * max(1, log10 N) * T` (reached with k = 2 independent confirmations) and its maximum, 6 times that.
    The dissemination lower bound for the last detection is the first plus the minimum suspicion.

    | N | convergence (s) | first detection (s) | SWIM first probe (s) | last detection (s) | suspicion min / max (s) | bound: first probe + min (s) | false positives | bytes/node/s |
    |---:|---:|---:|---:|---:|---:|---:|---:|---:|

    """
var detectionSeries: [(x: Double, y: Double)] = []
var boundSeries: [(x: Double, y: Double)] = []
var maxSeries: [(x: Double, y: Double)] = []
for row in rows {
    let lo = seconds(Formulas.suspicionMinimum(multiplier: 4, members: row.n, probeInterval: .seconds(1))) ?? 0
    let hi = lo * 6
    md += "| \(row.n) | \(f(mean(row.convergence))) | \(f(mean(row.first))) | \(f(firstProbe)) | \(f(mean(row.last))) | \(f(lo, 1)) / \(f(hi, 1)) | \(f(firstProbe + lo)) | \(row.falsePositives) | \(f(mean(row.bytesPerNodeSecond), 0)) |\n"
    if let l = mean(row.last) { detectionSeries.append((Double(row.n), l)) }
    boundSeries.append((Double(row.n), firstProbe + lo))
    maxSeries.append((Double(row.n), firstProbe + hi))
}
let detectionChart = Chart.svg(
    series: [
        .init(label: "measured: last detection", color: "#d62728", points: detectionSeries),
        .init(label: "formula: first probe + minimum suspicion", color: "#1f77b4", points: boundSeries),
        .init(label: "formula: first probe + maximum suspicion", color: "#aaaaaa", points: maxSeries),
    ], title: "Failure detection time against cluster size", xLabel: "nodes (log scale)", yLabel: "seconds",
    logX: true)
try detectionChart.write(toFile: "\(outDir)/detection-vs-n.svg", atomically: true, encoding: .utf8)
md += "\n![detection against N](detection-vs-n.svg)\n\n"

// Curves of one run of each kind, for a person to look at.
do {
    var o = ScenarioOptions()
    o.nodes = 1000
    o.duration = .seconds(40)
    o.sampleEvery = .milliseconds(250)
    let r = try Scenario.crash.run(o)
    try Chart.svg(r.samples, title: "1,000 nodes: joins, then one crash (seed 1)")
        .write(toFile: "\(outDir)/crash-1000.svg", atomically: true, encoding: .utf8)
    var p = ScenarioOptions()
    p.nodes = 100
    p.duration = .seconds(100)
    p.partitionLength = .seconds(60)
    p.sampleEvery = .milliseconds(250)
    let part = try Scenario.partition.run(p)
    try Chart.svg(part.samples, title: "100 nodes: 50/50 partition from 10 s to 70 s, then healed (seed 1)")
        .write(toFile: "\(outDir)/partition-100.svg", atomically: true, encoding: .utf8)
    md += """
        ![1,000 nodes joining, then a crash](crash-1000.svg)

        ![partition and heal](partition-100.svg)

        Partition of 100 nodes for 60 s: healed \(f(seconds(part.healTime))) s after the network came back
        (every node seeing all 100 alive again), through the reconnect attempts to failed members
        every 30 s (Serf's reconnect) followed by refutations.


        """
}

// MARK: Lifeguard on and off

do {
    md += """
        ## Lifeguard on and off

        100 nodes, 5 % packet loss on every link, 600 virtual seconds; in the second pair one node
        handles every input late, by a lag uniform in [0, 6 s) (mean 3 s), in arrival order.

        | case | false positives, Lifeguard on | false positives, off | suspicions on | suspicions off |
        |---|---:|---:|---:|---:|

        """
    for slow in [false, true] {
        var on = (0, 0)
        var off = (0, 0)
        for seed in seeds {
            var o = ScenarioOptions()
            o.nodes = 100
            o.seed = seed
            o.duration = .seconds(600)
            o.loss = 0.05
            o.lifeguard = true
            let a = try (slow ? Scenario.slow : Scenario.loss).run(o)
            o.lifeguard = false
            let b = try (slow ? Scenario.slow : Scenario.loss).run(o)
            on.0 += a.falsePositives
            on.1 += a.suspicions
            off.0 += b.falsePositives
            off.1 += b.suspicions
        }
        let label = slow ? "5 % loss, one slow node" : "5 % loss"
        print("\(label): false positives on \(on.0), off \(off.0)")
        md += "| \(label) (sum over \(seeds.count) seeds) | \(on.0) | \(off.0) | \(on.1) | \(off.1) |\n"
    }
    md += "\n"
}

// MARK: simulator speed

md += """
    ## Simulator speed

    Wall and CPU time of one process to simulate N nodes for 60 virtual seconds of the join
    scenario (boot through 3 seeds in the first 5 s, then steady state), with the events it
    handled per wall second and its peak memory. The join phase costs O(N^2) (every node must
    learn every other, and every update is retransmitted `4 * ceil(log10(N + 1))` times by each
    node), the steady state O(N). Each row replays with
    `swift run -c release grapevine-sim join --nodes N`.

    | nodes | wall time (s) | CPU time (s) | virtual s per wall s | events | events per wall s | converged after (virtual s) | peak memory (GB) |
    |---:|---:|---:|---:|---:|---:|---:|---:|

    """
var speedPoints: [(x: Double, y: Double)] = []
for n in sizes {
    var o = ScenarioOptions()
    o.nodes = n
    o.duration = .seconds(60)
    var report: ScenarioReport?
    let cpu0 = cpuSeconds()
    let w = try wall { report = try Scenario.join.run(o) }
    let cpu = cpuSeconds() - cpu0
    guard let r = report else { continue }
    print("speed N=\(n): \(f(w)) s wall, \(f(cpu)) s CPU for 60 virtual s, converged \(f(seconds(r.convergence)))")
    md += "| \(n) | \(f(w, 1)) | \(f(cpu, 1)) | \(f(60 / w)) | \(r.events) | \(Int(Double(r.events) / w)) | \(f(seconds(r.convergence))) | \(f(peakMemoryGB())) |\n"
    speedPoints.append((Double(n), w))
}
// The join phase and the steady state apart, at 1000 nodes.
do {
    let n = 1000
    let sim = Simulation(seed: 1)
    for _ in 0..<n { try sim.addNode() }
    for i in 1..<n { sim.join(i, through: [0, 1, 2].filter { $0 != i }, after: .milliseconds(Int64(5 * i))) }
    let wj = wall { sim.run(upTo: .seconds(120)) { sim.metrics.converged } }
    let joined = seconds(sim.elapsed) ?? 0
    sim.run(for: .seconds(30))
    let events = sim.eventsHandled
    let w = wall { sim.run(for: .seconds(60)) }
    let steadyEvents = sim.eventsHandled - events
    print("N=\(n): join \(f(joined / wj)) and steady state \(f(60 / w)) virtual s per wall s")
    md += """

        \(n) nodes, the join phase (the first \(f(joined, 1)) virtual seconds, until every node sees every
        other): \(f(joined / wj)) virtual seconds per wall second. The steady state after it (60 virtual
        seconds, starting 30 s after convergence): \(f(60 / w, 1)) virtual seconds per wall second,
        \(Int(Double(steadyEvents) / w)) events per wall second.


        """
}
if let largest = speedPoints.filter({ $0.y <= 600 }).map(\.x).max() {
    md += """
        Largest cluster of this run's sizes simulated for 60 virtual seconds within 10 minutes of wall
        time: **\(Int(largest)) nodes** (see the section below for larger sizes).

        """
}
if speedPoints.count > 1 {
    try Chart.svg(
        series: [.init(label: "wall seconds for 60 virtual seconds", color: "#9467bd", points: speedPoints)],
        title: "Simulator cost against cluster size", xLabel: "nodes", yLabel: "wall seconds"
    ).write(toFile: "\(outDir)/simulator-speed.svg", atomically: true, encoding: .utf8)
    md += "\n![simulator speed](simulator-speed.svg)\n"
}
md = md.replacingOccurrences(of: loadAverageAtEnd, with: loadAverage())
// The larger runs take longer than this benchmark should; they are measured by hand with
// scripts/sim-scale.sh and kept below this line of the file across regenerations.
let handMeasured = "<!-- Measured by hand with scripts/sim-scale.sh; sim-bench keeps this section. -->"
if let old = try? String(contentsOfFile: "\(outDir)/SIMULATION.md", encoding: .utf8), let at = old.range(of: handMeasured) {
    md += "\n" + old[at.lowerBound...]
}
try md.write(toFile: "\(outDir)/SIMULATION.md", atomically: true, encoding: .utf8)
print("wrote \(outDir)/SIMULATION.md")
