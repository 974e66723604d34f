import Foundation
import GossipSimulator

/// What was run: both systems' versions and the machine, for the report's header.
struct Versions {
    var grapevine: String
    var serf: String
    var machine: String

    static func read(serf: String) -> Versions {
        func first(_ exe: String, _ args: [String]) -> String? {
            guard let r = try? runCommand(exe, args), r.status == 0 else { return nil }
            return r.output.split(separator: "\n").first.map(String.init)
        }
        let commit = first("/usr/bin/env", ["git", "describe", "--always", "--dirty"]) ?? "unknown commit"
        var serfVersion = first(serf, ["version"]) ?? "serf (version unknown)"
        if let package = first("/usr/bin/env", ["dpkg-query", "-W", "-f=${Version}", "serf"]) {
            serfVersion += " (Debian package serf \(package))"
        }
        let cpu = ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
            .split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "" } ?? "unknown CPU"
        let kernel = first("/usr/bin/env", ["uname", "-r"]) ?? "?"
        let cores = ProcessInfo.processInfo.activeProcessorCount
        return Versions(
            grapevine: "gossip-node at \(commit)", serf: serfVersion,
            machine: "Linux \(kernel), \(cores) cores (\(cpu))")
    }
}

/// The figures of one system over the run's events.
struct EventSummary {
    var samples: [EventSample]
    /// Fire → last member of the events every member had, in ms, ascending.
    var latencies: [Double]
    var originToLast: [Double]
    var missed: Int
    var duplicates: Int
    var meanBytes: Double
    var meanUDP: Double
    var meanTCP: Double
    /// Standard error of the mean of the total and of the UDP bytes per event.
    var bytesError: Double
    var udpError: Double
    var idleBytesPerSecond: Double
    var exchangesPerSecond: Double
    /// Push/pull size (bytes per TCP connection, both directions) in the last idle window, and
    /// how much it grows per event fired (least-squares slope over the idle windows).
    var lastExchangeBytes: Double?
    var exchangeGrowthPerEvent: Double?

    init(_ samples: [EventSample]) {
        self.samples = samples
        latencies = samples.compactMap(\.fireToLast).sorted()
        originToLast = samples.compactMap(\.originToLast).sorted()
        missed = samples.count { $0.fireToLast == nil }
        duplicates = samples.map(\.duplicates).reduce(0, +)
        let n = Double(max(samples.count, 1))
        meanBytes = samples.map(\.bytes).reduce(0, +) / n
        meanUDP = samples.map(\.udpBytes).reduce(0, +) / n
        meanTCP = samples.map(\.tcpBytes).reduce(0, +) / n
        idleBytesPerSecond = samples.map(\.idleBytesPerSecond).reduce(0, +) / n
        bytesError = Self.standardError(samples.map(\.bytes))
        udpError = Self.standardError(samples.map(\.udpBytes))
        exchangesPerSecond = samples.map(\.idleExchangesPerSecond).reduce(0, +) / n
        let sizes = samples.enumerated().compactMap { i, s in s.bytesPerExchange.map { (x: Double(i), y: $0) } }
        lastExchangeBytes = sizes.last?.y
        exchangeGrowthPerEvent = Self.slope(sizes)
    }

    static func standardError(_ xs: [Double]) -> Double {
        guard xs.count > 1 else { return 0 }
        let mean = xs.reduce(0, +) / Double(xs.count)
        let variance = xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count - 1)
        return (variance / Double(xs.count)).squareRoot()
    }

    static func slope(_ points: [(x: Double, y: Double)]) -> Double? {
        guard points.count > 2 else { return nil }
        let n = Double(points.count)
        let mx = points.map(\.x).reduce(0, +) / n
        let my = points.map(\.y).reduce(0, +) / n
        let sxx = points.map { ($0.x - mx) * ($0.x - mx) }.reduce(0, +)
        guard sxx > 0 else { return nil }
        return points.map { ($0.x - mx) * ($0.y - my) }.reduce(0, +) / sxx
    }

    var median: Double? { Self.median(latencies) }

    /// The latencies as a cumulative distribution: share of samples at every member against ms,
    /// as steps over all samples (missed ones included, so the curve ends below 1 if any were).
    var cdf: [(x: Double, y: Double)] {
        let total = Double(max(samples.count, 1))
        var points: [(x: Double, y: Double)] = []
        for (i, t) in latencies.enumerated() {
            points.append((t, Double(i) / total))
            points.append((t, Double(i + 1) / total))
        }
        return points
    }
    var slowest: Double? { latencies.last }
    var originMedian: Double? { Self.median(originToLast) }
    var originSlowest: Double? { originToLast.last }

    static func median(_ sorted: [Double]) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let m = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2
    }
}

/// Docs/benchmarks/EVENTS.md and events-latency.svg from the samples of one run.
struct EventsReport {
    var samples: [EventSample]
    /// For each missed event: the members that did not have it in time, and when they had it.
    var late: [String: [(member: Int, ms: Double?)]]
    var options: Events
    var versions: Versions

    var grapevine: EventSummary { EventSummary(samples.filter { $0.system == .grapevine }) }
    var serf: EventSummary { EventSummary(samples.filter { $0.system == .serf }) }

    private func f(_ x: Double?, _ digits: Int = 1) -> String { x.map { Chart.fixed($0, digits) } ?? "–" }
    private func ratio(_ a: Double?, _ b: Double?) -> String {
        guard measured(grapevine), measured(serf), let a, let b, b != 0 else { return "–" }
        return Chart.fixed(a / b, 3)
    }
    private func measured(_ s: EventSummary) -> Bool { !s.samples.isEmpty }

    func summaryTable() -> String {
        let g = grapevine
        let s = serf
        func row(_ label: String, _ a: Double?, _ b: Double?, digits: Int = 1, ratios: Bool = true) -> String {
            "| \(label) | \(measured(g) ? f(a, digits) : "not run") | \(measured(s) ? f(b, digits) : "not run") | \(ratios ? ratio(a, b) : "") |"
        }
        return [
            "| \(options.cluster.nodes) members, \(options.events) events each | Grapevine | Serf | Grapevine / Serf |",
            "| --- | ---: | ---: | ---: |",
            row("fire → last member, median (ms)", g.median, s.median),
            row("fire → last member, max (ms)", g.slowest, s.slowest),
            row("origin's line → last member, median (ms)", g.originMedian, s.originMedian),
            row("origin's line → last member, max (ms)", g.originSlowest, s.originSlowest),
            row("events missed (not at every member within \(f(options.timeout, 0)) s)", Double(g.missed), Double(s.missed), digits: 0, ratios: false),
            row("duplicate deliveries", Double(g.duplicates), Double(s.duplicates), digits: 0, ratios: false),
            row("bytes per event, UDP (its datagrams; mean, idle subtracted)", g.meanUDP, s.meanUDP, digits: 0),
            "| … standard error of that mean | \(measured(g) ? f(g.udpError, 0) : "not run") | \(measured(s) ? f(s.udpError, 0) : "not run") | |",
            row("TCP in the event window (push/pull on its own timer; idle subtracted)", g.meanTCP, s.meanTCP, digits: 0, ratios: false),
            row("bytes per event, UDP + TCP (mean)", g.meanBytes, s.meanBytes, digits: 0),
            "| … standard error of that mean | \(measured(g) ? f(g.bytesError, 0) : "not run") | \(measured(s) ? f(s.bytesError, 0) : "not run") | |",
            row("idle traffic of the cluster (bytes/s)", g.idleBytesPerSecond, s.idleBytesPerSecond, digits: 0),
            row("push/pull exchanges in the cluster per second (idle)", g.exchangesPerSecond, s.exchangesPerSecond, digits: 2),
            row("push/pull exchange at the end of the run (bytes)", g.lastExchangeBytes, s.lastExchangeBytes, digits: 0),
            row("… growth per event fired (bytes)", g.exchangeGrowthPerEvent, s.exchangeGrowthPerEvent, digits: 0),
        ].joined(separator: "\n")
    }

    /// Who did not have a missed event in time, and when the line came after all.
    func missedEvents() -> String {
        var lines: [String] = []
        for s in samples where s.fireToLast == nil {
            let prefix = s.system == .serf ? "s" : "g"
            let who = (late[s.name] ?? []).map { m in
                "\(prefix)\(m.member) " + (m.ms.map { "after \(f($0 / 1000, 1)) s" } ?? "never, by the end of the run")
            }
            lines.append("- \(s.system.title) event \(s.round + 1) (from \(prefix)\(s.origin)): \(who.joined(separator: ", "))")
        }
        return lines.joined(separator: "\n")
    }

    private func goals() -> String {
        let g = grapevine
        let s = serf
        guard measured(g), measured(s), let gMedian = g.median, let gMax = g.slowest, let sMedian = s.median,
            let sMax = s.slowest, g.missed == 0
        else {
            return "Goals (issue 10) not judged: Grapevine was not measured, or missed events."
        }
        let latency = gMedian <= sMedian / 10 && gMax <= sMax / 10
        let bytes = g.meanUDP <= s.meanUDP
        return """
            Goals (issue 10). *The last member in at most one tenth of Serf's time,* median against \
            median and slowest against slowest: \(f(gMedian)) against \(f(sMedian)) ms \
            (\(ratio(gMedian, sMedian))) and \(f(gMax)) against \(f(sMax)) ms (\(ratio(gMax, sMax))): \
            **\(latency ? "met" : "not met")**. (Grapevine's slowest against Serf's median, the strictest \
            reading: \(ratio(gMax, sMedian)).) \
            *No more bytes on the wire per event than Serf:* the event's datagrams (UDP) are \
            \(f(g.meanUDP, 0)) ± \(f(g.udpError, 0)) bytes against \(f(s.meanUDP, 0)) ± \(f(s.udpError, 0)) \
            (\(ratio(g.meanUDP, s.meanUDP))): **\(bytes ? "met" : "not met")**. With the TCP in the same \
            windows, which is push/pull on its own timer and no part of sending an event in either \
            system, the means are \(f(g.meanBytes, 0)) ± \(f(g.bytesError, 0)) and \(f(s.meanBytes, 0)) ± \
            \(f(s.bytesError, 0)) (\(ratio(g.meanBytes, s.meanBytes))). What an event costs afterwards is \
            in the last two rows: every later push/pull carries it while it is kept (Grapevine keeps \
            the newest 64 events, `Settings.eventsInPushPull`; Serf a 512-slot buffer indexed by Lamport \
            time, so at a low event rate practically all of them): about \
            \(f(g.exchangeGrowthPerEvent.map { $0 * g.exchangesPerSecond }, 0)) bytes/s across the cluster for \
            each event Grapevine keeps, \(f(s.exchangeGrowthPerEvent.map { $0 * s.exchangesPerSecond }, 0)) for \
            each event Serf keeps.
            """
    }

    func markdown() -> String {
        let load = ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?")
            .split(separator: " ").prefix(3).joined(separator: " ")
        let date = ISO8601DateFormatter().string(from: Date()).prefix(10)
        let arguments = CommandLine.arguments.dropFirst().joined(separator: " ")
        let n = options.cluster.nodes
        var text = """
            # User events: \(n) loopback members, Grapevine next to Serf

            Written by `gossip-bench events` (Benchmarks/gossip-bench), release build, on \(date): \
            \(versions.machine), shared with other work (load average \(load) when it finished).
            Grapevine: \(versions.grapevine). Serf: \(versions.serf). Both clusters of \(n) members run
            at the same time on 127.0.0.1, with their LAN defaults (probe 1 s, gossip 200 ms,
            push/pull 30 s), unencrypted; each fires \(options.events) events, one at a time. Rerun with:

                swift build -c release --product gossip-node
                swift build -c release --product gossip-bench
                .build/release/gossip-bench \(arguments)

            ## Results

            \(summaryTable())

            \(goals())

            ![Events reaching the last member, cumulative](events-latency.svg)

            The same dissemination on the simulator at 1,000 and 10,000 members, against the push-gossip
            bound on rounds: [EVENTS-SIMULATION.md](EVENTS-SIMULATION.md).
            \(samples.contains { $0.fireToLast == nil } ? "\nMissed events (not at every member within \(f(options.timeout, 0)) s), with when the line came after all:\n\n" + missedEvents() + "\n" : "")
            ## Method

            **Time.** Every member's stdout and stderr is a pipe, read by one thread of the benchmark
            that waits in `poll` and stamps each line with `CLOCK_MONOTONIC` when it arrives, so both
            systems are timed the same way: by a line the member prints. A Serf agent logs
            `[INFO] agent: Received event: user-event: NAME` from its event loop (the origin too, for
            its own event); a gossip-node prints `user-event NAME LTIME ORIGIN PAYLOAD` (the origin
            counts from its `event-fired NAME LTIME` line or its own `user-event`, whichever comes
            first). Firing Serf is `serf event -coalesce=false -rpc-addr=ORIGIN NAME PAYLOAD`, a
            process the benchmark starts; firing Grapevine is the line `event NAME PAYLOAD` written to
            the origin's stdin. "Fire → last member" runs from just before firing to the last
            member's line, so it includes the CLI's start and RPC round trip for Serf;
            "origin's line → last member" leaves the firing path out for both. An event not printed by
            every member within \(f(options.timeout, 0)) s counts as missed. Names are unique per event,
            payloads \(options.payload) random hex characters. The origin is a random member (the same
            index in both clusters, seed \(options.seed)); the events of the two systems alternate, and
            which goes first alternates per round, so a change in the machine's load hits both alike.
            One warm-up event per system, before the \(options.events), is not counted.

            For Grapevine the origin's `event-fired` line comes once `fireEvent` has returned, after
            the eager push, so its "origin's line → last member" can be close to zero; fire → last is
            its figure.

            **Bytes.** The benchmark adds an nftables table of its own (`inet gossip_bench_PID`,
            deleted at the end, also on error or Ctrl-C) with counting rules (no verdicts) on the
            output hook of `lo`: UDP and TCP packets to a member's gossip port, or from one to a port
            outside the range (the client end of a TCP connection), and TCP SYNs to a member's port
            (connections, for the push/pull rows), one set of counters per system (Grapevine ports
            \(options.cluster.gossipPorts), Serf \(options.cluster.serfPorts)). Each packet is counted
            once, at its IP length (IP and UDP/TCP headers included, the link layer not). Serf's RPC
            ports (\(options.cluster.serfRpcPorts)) are outside the ranges, so `serf event` and
            `serf members` do not count, as a gossip-node's stdin does not. For each event the
            counters are read (`nft list counters`) at the start and end of an idle window of \
            \(f(options.window, 0)) s just before firing, and once more at the end of the event window,
            which runs from firing for \(f(options.window, 0)) s, or longer if the last member needed
            more than \(f(options.window - options.quiet, 0)) s (then until \(f(options.quiet, 0)) s
            after it), long enough for the gossip retransmits of both to end. Bytes per event = bytes
            in the event window − the idle window's rate × the event window's length, UDP and TCP
            apart. Both systems send an event only in UDP datagrams (Serf: memberlist gossip and
            probe piggyback; Grapevine: the eager push to ⌈ln N + 4⌉ members, then gossip), and the
            idle UDP (probes) is steady, so the UDP figure is tight. The TCP in the windows is
            push/pull, each member every 30 s at its own phase: about one exchange a second in
            either cluster, a few kB each, landing in one window or the other by chance; it averages
            toward zero over the events and is listed apart with the standard errors. Loopback's
            MTU is 65,536, so a push/pull is a few large segments here and more headers on Ethernet.

            ## Per event

            Bytes are idle subtracted, UDP and (in brackets) UDP + TCP.

            | # | origin | Grapevine: fire → last (ms) | origin's line → last (ms) | bytes | Serf: fire → last (ms) | origin's line → last (ms) | bytes |
            | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |

            """
        for round in 0..<options.events {
            let g = samples.first { $0.system == .grapevine && $0.round == round }
            let s = samples.first { $0.system == .serf && $0.round == round }
            let origin = (g ?? s).map { String($0.origin) } ?? "–"
            func cells(_ x: EventSample?) -> String {
                guard let x else { return "– | – | –" }
                let t = x.fireToLast.map { f($0) } ?? "missed (\(x.delivered)/\(n))"
                return "\(t) | \(f(x.originToLast)) | \(f(x.udpBytes, 0)) (\(f(x.bytes, 0)))"
            }
            text += "| \(round + 1) | \(origin) | \(cells(g)) | \(cells(s)) |\n"
        }
        return text
    }

    /// Share of events at every member against the time since firing (log scale): both
    /// systems on one axis although they are orders of magnitude apart.
    func svg() -> String {
        var series: [Chart.Series] = []
        if measured(grapevine) {
            series.append(Chart.Series(label: "Grapevine (gossip-node)", color: "#1f77b4", points: grapevine.cdf))
        }
        if measured(serf) {
            series.append(Chart.Series(label: "Serf (serf agent)", color: "#d62728", points: serf.cdf))
        }
        return Chart.svg(
            series: series,
            title: "User event from firing to the last of \(options.cluster.nodes) loopback members (\(options.events) events each)",
            xLabel: "milliseconds (log scale)", yLabel: "share of events at every member", yMax: 1, logX: true)
    }
}
