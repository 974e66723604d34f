import ArgumentParser
import Foundation
import GossipCore

/// The replicated-state benchmark of issue 11 on loopback: 32 gossip-nodes each write 20 rows,
/// then single-row updates from random members are timed from the write command until every
/// other member printed the new value, with the loopback bytes each update costs. There is no
/// Serf counterpart (Serf has no replicated state); the baseline is Grapevine's own user
/// event, measured the same way in the same run. Docs/benchmarks/STATE-LOOPBACK.md says how.
struct StateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state", abstract: "Replicated-state row latency to the last member and bytes per row change, gossip-node only.")

    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Rows each member writes before the measurement.") var rows = 20
    @Option(help: "Single-row updates measured.") var updates = 60
    @Option(help: "User events measured as the baseline, interleaved with the updates.") var events = 20
    @Option(help: "Seconds of each byte window: idle before a change, and at least this long from the write on.")
    var window = 1.5
    @Option(help: "Seconds to wait for the last member before a change counts as missed.") var timeout = 10.0
    @Option(help: "Seconds of quiet, at least, after the last member has a change.") var quiet = 0.5
    @Option(help: "Seed for origins and rows.") var seed: UInt64 = 1
    @Option(help: "Seconds to wait for the cluster to converge, and again for the initial rows.") var convergeTimeout = 90.0
    @Option(help: "Markdown report.") var markdown = "Docs/benchmarks/STATE-LOOPBACK.md"
    @Option(help: "SVG chart.") var svg = "Docs/benchmarks/state-latency.svg"
    @Flag(help: "Print only; write neither file.") var noWrite = false

    func validate() throws {
        guard (1...1000).contains(rows), (1...1000).contains(updates), (0...1000).contains(events) else {
            throw ValidationError("--rows and --updates must be 1...1000, --events 0...1000")
        }
        guard (0.5...120).contains(window), (0.5...120).contains(timeout), (0...60).contains(quiet) else {
            throw ValidationError("--window and --timeout must be 0.5...120 s, --quiet 0...60 s")
        }
    }

    func run() throws {
        Teardown.shared.catchSignals()
        defer { Teardown.shared.run() }
        let clusters = try Clusters(cluster, serfLogLevel: nil)
        let n = cluster.nodes
        let converged = clusters.waitConverged(timeout: convergeTimeout)
        say("converged: gossip-node \(converged.grapevine)/\(n) members see all")
        guard converged.grapevine == n else { throw BenchError("the cluster did not converge") }
        let counters = try PortCounters(groups: [(BenchSystem.grapevine.rawValue, cluster.gossipPorts)])
        defer { counters.remove() }
        var run = StateRun(clusters: clusters, counters: counters, options: self)

        let load = try run.load()
        say(String(format: "initial rows: %d members × %d rows at every member after %.0f ms", n, rows, load))
        // Interleaved, so a drift in the machine's load hits both alike.
        var samples: [EventSample] = []
        var baseline: [EventSample] = []
        for round in 0..<updates {
            samples.append(try run.measure(.row, round: round))
            if events > 0, round * events / updates != (round + 1) * events / updates {
                baseline.append(try run.measure(.event, round: baseline.count))
            }
        }
        let alive = clusters.grapevine.count(where: \.isRunning)
        say("still running at the end: gossip-node \(alive)/\(n)")
        let report = StateReport(
            rows: EventSummary(samples), events: EventSummary(baseline), loadMs: load, options: self,
            versions: Versions.read(serf: cluster.serf))
        say("")
        say(report.summaryTable())
        if !noWrite {
            try report.markdown().write(toFile: markdown, atomically: true, encoding: .utf8)
            try report.svg().write(toFile: svg, atomically: true, encoding: .utf8)
            say("wrote \(markdown) and \(svg)")
        }
    }
}

/// The changes of one run: writing, waiting for the other members, counting bytes. Samples
/// reuse `EventSample`: `fireToLast` is from the command until the last *other* member's line.
struct StateRun {
    enum Kind { case row, event }

    let clusters: Clusters
    let counters: PortCounters
    let options: StateBench
    private var random: SeededGenerator
    private let tag: String

    init(clusters: Clusters, counters: PortCounters, options: StateBench) {
        self.clusters = clusters
        self.counters = counters
        self.options = options
        random = SeededGenerator(seed: options.seed)
        tag = String(UInt32(truncatingIfNeeded: monotonicNanos()), radix: 36)
    }

    /// Every member writes its rows; returns the ms until every member printed all of them.
    func load() throws -> Double {
        let n = clusters.n
        let mark = clusters.tap.mark()
        let start = monotonicNanos()
        for i in 0..<n {
            for j in 0..<options.rows { try clusters.send("row set bench r\(j) g\(i)-initial-\(tag)", to: i) }
        }
        let want = n * options.rows
        let deadline = start + UInt64(options.convergeTimeout * 1e9)
        var reported = start
        while true {
            let counts = clusters.tap.count(in: clusters.grapevineSources, after: mark) { $1.hasPrefix("row-added ") }
            if counts.values.allSatisfy({ $0 >= want }) { break }
            // The shape of the load: how fast most rows spread, and how long the last ones take.
            if monotonicNanos() - reported >= 1_000_000_000 {
                reported = monotonicNanos()
                let held = counts.values.reduce(0, +)
                say(
                    String(
                        format: "  %.0f s: %d of %d rows held, %d members have all, the fewest at one member %d",
                        Double(reported - start) / 1e9, held, want * n, counts.values.count { $0 >= want },
                        counts.values.min() ?? 0))
            }
            if monotonicNanos() > deadline {
                let short = counts.filter { $0.value < want }.sorted { $0.key < $1.key }.map { "g\($0.key)=\($0.value)" }
                throw BenchError("initial rows incomplete after \(options.convergeTimeout) s (want \(want)): \(short)")
            }
            usleep(20_000)
        }
        // The last line's stamp, not the poll's.
        return Double(lastStamp(after: mark, want: want) - start) / 1e6
    }

    /// When the last member printed its `want`-th `row-added` line after `mark`.
    private func lastStamp(after mark: [Int], want: Int) -> UInt64 {
        var latest: UInt64 = 0
        for s in clusters.grapevineSources {
            var seen = 0
            let stamps = clusters.tap.firstMatches(in: s..<(s + 1), after: mark, want: 1, deadline: 0) { _, line in
                if line.hasPrefix("row-added ") { seen += 1 }
                return seen == want
            }
            latest = max(latest, stamps[s] ?? 0)
        }
        return latest
    }

    mutating func measure(_ kind: Kind, round: Int) throws -> EventSample {
        let n = clusters.n
        let origin = Int(random.next() % UInt64(n))
        let row = Int(random.next() % UInt64(options.rows))
        let value = "\(kind == .row ? "u" : "e")\(round)-\(tag)"
        let command: String
        let arrived: (String) -> Bool
        switch kind {
        case .row:
            command = "row set bench r\(row) \(value)"
            let prefix = "row-updated g\(origin) bench r\(row) "
            let suffix = " \(value)"
            arrived = { $0.hasPrefix(prefix) && $0.hasSuffix(suffix) }
        case .event:
            command = "event \(value)"
            let prefix = "user-event \(value) "
            arrived = { $0.hasPrefix(prefix) }
        }
        let o = try ChangeWindow(window: options.window, timeout: options.timeout, quiet: options.quiet).measure(
            counters: counters, counter: BenchSystem.grapevine.rawValue, tap: clusters.tap, sources: clusters.grapevineSources,
            fire: { try clusters.send(command, to: origin) }, matches: { arrived($1) },
            last: { seen in
                let others = seen.filter { $0.key != origin }
                return others.count == n - 1 ? others.values.max() : nil
            })
        let (seen, mark, fired) = (o.seen, o.mark, o.fired)
        let others = seen.filter { $0.key != origin }
        let complete = o.last != nil
        let last = o.last ?? 0
        let counts = clusters.tap.count(in: clusters.grapevineSources, after: mark) { arrived($1) }
        let ms = { (a: UInt64, b: UInt64) in (Double(b) - Double(a)) / 1e6 }
        let sample = EventSample(
            system: .grapevine, round: round, origin: origin, name: command, delivered: others.count,
            duplicates: counts.values.reduce(0) { $0 + max(0, $1 - 1) },
            missing: (0..<n).filter { $0 != origin && others[$0] == nil },
            fireToLast: complete ? ms(fired, last) : nil, originToLast: complete ? seen[origin].map { ms($0, last) } : nil,
            idleStart: o.idleStart, idleEnd: o.idleEnd, after: o.after, mark: mark, fired: fired)
        var line = "\(kind == .row ? "row" : "event") #\(round + 1) from g\(origin): "
        if let t = sample.fireToLast {
            line += String(format: "last other member after %.1f ms", t)
        } else {
            line += "MISSED, \(others.count)/\(n - 1) other members within \(options.timeout) s"
        }
        line += String(format: ", %.0f bytes (UDP %.0f, TCP %.0f)", sample.bytes, sample.udpBytes, sample.tcpBytes)
        if sample.duplicates > 0 { line += ", \(sample.duplicates) duplicate lines" }
        say(line)
        return sample
    }
}
