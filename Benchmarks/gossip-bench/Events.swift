import ArgumentParser
import Foundation
import GossipCore

/// The event-latency benchmark of issue 10: 20 user events fired one at a time at random
/// members of each cluster, timed from just before firing until the last member prints the
/// event, with the loopback bytes each event costs. Docs/benchmarks/EVENTS.md says how.
struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "User-event latency to the last member, and bytes per event, gossip-node vs serf agent.")

    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Events per system.") var events = 20
    @Option(help: "Seconds of each byte window: idle before an event, and at least this long from firing on.")
    var window = 5.0
    @Option(help: "Seconds to wait for the last member before an event counts as missed.") var timeout = 10.0
    @Option(help: "Seconds of quiet, at least, after the last member has an event.") var quiet = 2.0
    @Option(help: "Payload bytes per event (hex characters).") var payload = 16
    @Option(help: "Seed for origins and payloads.") var seed: UInt64 = 1
    @Option(help: "Seconds to wait for both clusters to converge.") var convergeTimeout = 90.0
    @Option(help: "Systems to measure: both, serf, grapevine (both clusters run either way).")
    var systems: SystemChoice = .both
    @Option(help: "Markdown report.") var markdown = "Docs/benchmarks/EVENTS.md"
    @Option(help: "SVG chart.") var svg = "Docs/benchmarks/events-latency.svg"
    @Flag(help: "Print only; write neither file.") var noWrite = false

    enum SystemChoice: String, ExpressibleByArgument {
        case both, serf, grapevine
        var systems: [BenchSystem] {
            switch self {
            case .both: [.serf, .grapevine]
            case .serf: [.serf]
            case .grapevine: [.grapevine]
            }
        }
    }

    func validate() throws {
        guard (1...1000).contains(events) else { throw ValidationError("--events must be 1...1000") }
        guard (0.5...120).contains(window), (0.5...120).contains(timeout), (0...60).contains(quiet) else {
            throw ValidationError("--window and --timeout must be 0.5...120 s, --quiet 0...60 s")
        }
        guard (0...400).contains(payload) else { throw ValidationError("--payload must be 0...400") }
    }

    func run() throws {
        Teardown.shared.catchSignals()
        defer { Teardown.shared.run() }
        let clusters = try Clusters(cluster, serfLogLevel: "info")
        let converged = clusters.waitConverged(timeout: convergeTimeout)
        say("converged: gossip-node \(converged.grapevine)/\(cluster.nodes), serf \(converged.serf)/\(cluster.nodes) members see all")
        guard converged == (cluster.nodes, cluster.nodes) else { throw BenchError("the clusters did not converge") }
        let counters = try PortCounters(groups: [
            (BenchSystem.grapevine.rawValue, cluster.gossipPorts), (BenchSystem.serf.rawValue, cluster.serfPorts),
        ])
        defer { counters.remove() }
        var run = EventRun(clusters: clusters, counters: counters, options: self)

        // One event each, not counted: the join traffic dies down meanwhile, and a gossip-node
        // without the events interface is found here instead of as 20 misses.
        for system in systems.systems {
            let warm = try run.measure(system, round: -1, origin: 0)
            guard warm.delivered > 0 else {
                throw BenchError("\(system.title) delivered the warm-up event nowhere; see the lines above")
            }
        }
        var samples: [EventSample] = []
        for round in 0..<events {
            let origin = run.origin()
            // Alternate who goes first, so a drift in the machine's load hits both alike.
            let order = round % 2 == 0 ? systems.systems : systems.systems.reversed()
            for system in order { samples.append(try run.measure(system, round: round, origin: origin)) }
        }
        let alive = (clusters.grapevine.count(where: \.isRunning), clusters.serf.count(where: \.isRunning))
        say("still running at the end: gossip-node \(alive.0)/\(cluster.nodes), serf \(alive.1)/\(cluster.nodes)")
        var late: [String: [(member: Int, ms: Double?)]] = [:]
        for s in samples where s.fireToLast == nil { late[s.name] = run.lateArrivals(s) }
        let report = EventsReport(samples: samples, late: late, options: self, versions: Versions.read(serf: cluster.serf))
        say("")
        say(report.summaryTable())
        if !late.isEmpty {
            say("")
            say(report.missedEvents())
        }
        if !noWrite {
            try report.markdown().write(toFile: markdown, atomically: true, encoding: .utf8)
            try report.svg().write(toFile: svg, atomically: true, encoding: .utf8)
            say("wrote \(markdown) and \(svg)")
        }
    }
}

enum BenchSystem: String, Sendable {
    case grapevine, serf
    var title: String { self == .grapevine ? "Grapevine" : "Serf" }
}

/// One event at one cluster: when the members had it, and what it cost on the wire.
struct EventSample {
    var system: BenchSystem
    var round: Int
    var origin: Int
    var name: String
    /// Members that printed the event within the timeout, and extra deliveries beyond one each.
    var delivered: Int
    var duplicates: Int
    /// Members (0..<n) that had not printed it when the benchmark gave up.
    var missing: [Int]
    /// Milliseconds from just before firing until the last member's line (nil: missed).
    var fireToLast: Double?
    /// Milliseconds from the origin's own line until the last member's (nil: missed).
    var originToLast: Double?
    /// The counters at the start and end of the idle window, and at the end of the event window.
    var idleStart: PortCounters.Reading
    var idleEnd: PortCounters.Reading
    var after: PortCounters.Reading
    /// Where the members' output stood when the event was fired, and when that was.
    var mark: [Int]
    var fired: UInt64

    var idleSeconds: Double { Double(idleEnd.nanos - idleStart.nanos) / 1e9 }
    var windowSeconds: Double { Double(after.nanos - idleEnd.nanos) / 1e9 }
    var idleBytesPerSecond: Double { Double(idleEnd.bytes - idleStart.bytes) / idleSeconds }
    /// Bytes sent in the event window minus the idle rate times its length.
    var udpBytes: Double { attributable(\.udpBytes) }
    var tcpBytes: Double { attributable(\.tcpBytes) }
    var bytes: Double { udpBytes + tcpBytes }
    /// TCP bytes per connection in the idle window (nil: none opened): the size of a push/pull.
    var bytesPerExchange: Double? {
        let connections = idleEnd.connections - idleStart.connections
        return connections > 0 ? Double(idleEnd.tcpBytes - idleStart.tcpBytes) / Double(connections) : nil
    }
    var idleExchangesPerSecond: Double { Double(idleEnd.connections - idleStart.connections) / idleSeconds }

    private func attributable(_ f: (PortCounters.Reading) -> Int) -> Double {
        let idleRate = Double(f(idleEnd) - f(idleStart)) / idleSeconds
        return Double(f(after) - f(idleEnd)) - idleRate * windowSeconds
    }
}

/// The sequence of events of one run: firing, waiting for the members, counting bytes.
struct EventRun {
    let clusters: Clusters
    let counters: PortCounters
    let options: Events
    private var random: SeededGenerator
    private let tag: String

    init(clusters: Clusters, counters: PortCounters, options: Events) {
        self.clusters = clusters
        self.counters = counters
        self.options = options
        random = SeededGenerator(seed: options.seed)
        tag = String(UInt32(truncatingIfNeeded: monotonicNanos()), radix: 36)
    }

    mutating func origin() -> Int { Int(random.next() % UInt64(clusters.n)) }

    mutating func measure(_ system: BenchSystem, round: Int, origin: Int) throws -> EventSample {
        let name = "bench-\(system.rawValue)-\(round < 0 ? "warm" : String(round))-\(tag)"
        let payload = String((0..<options.payload).map { _ in "0123456789abcdef".randomElement(using: &random)! })
        let sources = system == .serf ? clusters.serfSources : clusters.grapevineSources
        let originSource = sources.lowerBound + origin
        let delivery = deliveryLine(system, name)
        let originLine = "event-fired \(name) "
        let n = clusters.n
        let o = try ChangeWindow(window: options.window, timeout: options.timeout, quiet: options.quiet).measure(
            counters: counters, counter: system.rawValue, tap: clusters.tap, sources: sources,
            fire: { try fire(system, name: name, payload: payload, origin: origin) },
            matches: { source, line in
                delivery(line) || (system == .grapevine && source == originSource && line.hasPrefix(originLine))
            },
            last: { $0.count == n ? $0.values.max() : nil })
        let (seen, mark, fired) = (o.seen, o.mark, o.fired)
        let complete = o.last != nil
        let last = o.last ?? 0
        let counts = clusters.tap.count(in: sources, after: mark) { delivery($1) }
        let ms = { (a: UInt64, b: UInt64) in (Double(b) - Double(a)) / 1e6 }
        let sample = EventSample(
            system: system, round: round, origin: origin, name: name, delivered: seen.count,
            duplicates: counts.values.reduce(0) { $0 + max(0, $1 - 1) },
            missing: sources.filter { seen[$0] == nil }.map { $0 - sources.lowerBound },
            fireToLast: complete ? ms(fired, last) : nil,
            originToLast: complete ? seen[originSource].map { ms($0, last) } : nil,
            idleStart: o.idleStart, idleEnd: o.idleEnd, after: o.after, mark: mark, fired: fired)
        report(sample, prefix: clusters.tap.lines(of: originSource).suffix(from: mark[originSource]))
        return sample
    }

    /// The line a member prints when the event reaches it.
    private func deliveryLine(_ system: BenchSystem, _ name: String) -> (String) -> Bool {
        switch system {
        case .serf:
            let suffix = "agent: Received event: user-event: \(name)"
            return { $0.hasSuffix(suffix) }
        case .grapevine:
            let prefix = "user-event \(name) "
            return { $0.hasPrefix(prefix) }
        }
    }

    private func fire(_ system: BenchSystem, name: String, payload: String, origin: Int) throws {
        switch system {
        case .serf:
            let r = try runCommand(
                options.cluster.serf,
                ["event", "-coalesce=false", "-rpc-addr=\(clusters.serfRPC(origin))", name, payload],
                timeout: options.timeout)
            if r.status != 0 { say("serf event failed (\(r.status)): \(r.output)") }
        case .grapevine:
            try clusters.send("event \(name) \(payload)", to: origin)
        }
    }

    private func report(_ s: EventSample, prefix originLines: ArraySlice<String>) {
        let label = s.round < 0 ? "warm-up" : "#\(s.round + 1)"
        let member = (s.system == .serf ? "s" : "g") + String(s.origin)
        var line = "\(s.system.title) \(label) from \(member): "
        if let t = s.fireToLast {
            line += String(format: "last member after %.1f ms (%.1f ms after the origin's line)", t, s.originToLast ?? .nan)
        } else {
            line += "MISSED, \(s.delivered)/\(clusters.n) members within \(options.timeout) s"
        }
        line += String(format: ", %.0f bytes (UDP %.0f, TCP %.0f)", s.bytes, s.udpBytes, s.tcpBytes)
        if s.duplicates > 0 { line += ", \(s.duplicates) duplicate deliveries" }
        say(line)
        // The raw counts behind the bytes: how noisy the idle subtraction is.
        say(
            String(
                format: "  counted: idle %.1f s UDP %d TCP %d, event window %.1f s UDP %d TCP %d",
                s.idleSeconds, s.idleEnd.udpBytes - s.idleStart.udpBytes, s.idleEnd.tcpBytes - s.idleStart.tcpBytes,
                s.windowSeconds, s.after.udpBytes - s.idleEnd.udpBytes, s.after.tcpBytes - s.idleEnd.tcpBytes))
        // What the origin said about a missed event (an `error` line, a usage message).
        if s.fireToLast == nil {
            for l in originLines.prefix(5) { say("  \(member): \(l)") }
        }
    }

    /// For a missed event: each member that did not have it in time, and how many ms after
    /// firing its line came after all (nil: not by now).
    func lateArrivals(_ s: EventSample) -> [(member: Int, ms: Double?)] {
        let sources = s.system == .serf ? clusters.serfSources : clusters.grapevineSources
        let delivery = deliveryLine(s.system, s.name)
        let seen = clusters.tap.firstMatches(in: sources, after: s.mark, want: clusters.n, deadline: 0) { delivery($1) }
        return s.missing.map { m in (m, seen[sources.lowerBound + m].map { (Double($0) - Double(s.fired)) / 1e6 }) }
    }
}

/// A line on stdout now, also when stdout is a pipe (stdio would hold it until the end).
func say(_ line: String) {
    print(line)
    fflush(nil)
}
