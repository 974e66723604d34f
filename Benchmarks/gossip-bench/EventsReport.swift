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
    var idleBytesPerSecond: Double

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
    }

    var median: Double? { Self.median(latencies) }
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
            row("bytes on the wire per event, mean (idle subtracted)", g.meanBytes, s.meanBytes, digits: 0),
            row("… of which UDP", g.meanUDP, s.meanUDP, digits: 0),
            row("… of which TCP (push/pull, mostly idle noise)", g.meanTCP, s.meanTCP, digits: 0),
            row("idle traffic of the cluster (bytes/s)", g.idleBytesPerSecond, s.idleBytesPerSecond, digits: 0),
        ].joined(separator: "\n")
    }

    private func goals() -> String {
        let g = grapevine
        let s = serf
        guard measured(g), measured(s), let gm = g.slowest, let sm = s.median, g.missed == 0 else {
            return "Goals (issue 10) not judged: Grapevine was not measured, or missed events."
        }
        let latency = gm <= sm / 10
        let bytes = g.meanBytes <= s.meanBytes
        return """
            Goals (issue 10): the last member in at most one tenth of Serf's time — Grapevine's \
            slowest event took \(f(gm)) ms against Serf's median \(f(sm)) ms (\(ratio(gm, sm)); median \
            against median \(ratio(g.median, sm))): **\(latency ? "met" : "not met")**. No more bytes \
            per event than Serf — \(f(g.meanBytes, 0)) against \(f(s.meanBytes, 0)) \
            (\(ratio(g.meanBytes, s.meanBytes))): **\(bytes ? "met" : "not met")**.
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

                swift build -c release --product gossip-bench --product gossip-node
                .build/release/gossip-bench \(arguments)

            ## Results

            \(summaryTable())

            \(goals())

            ![Events reaching the last member, cumulative](events-latency.svg)

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

            **Bytes.** The benchmark adds an nftables table of its own (`inet gossip_bench_PID`,
            deleted at the end, also on error or Ctrl-C) with counting rules on the output hook of
            `lo`: UDP and TCP packets to a member's gossip port, or from one to a port outside the
            range (the client end of a TCP connection), one set of counters per system
            (Grapevine \(options.cluster.gossipPorts), Serf \(options.cluster.serfPorts)). Each
            packet is counted once, at its IP length (IP and UDP/TCP headers included, the link layer
            not). Serf's RPC ports (\(options.cluster.serfRpcPorts)) are outside the ranges, so
            `serf event` and `serf members` do not count, as a gossip-node's stdin does not. For each
            event the counters are read at the start and end of an idle window of \
            \(f(options.window, 0)) s just before firing, and once more at the end of the event window,
            which runs from firing for \(f(options.window, 0)) s, or longer if the last member needed
            more than \(f(options.window - options.quiet, 0)) s (then until \(f(options.quiet, 0)) s
            after it). Bytes per event = bytes in the event window − idle rate × its length. The idle
            traffic is probes (UDP) and push/pull (TCP, each member every 30 s); push/pull is the
            noise, which is why UDP and TCP are listed apart: an event travels in UDP in both
            systems, and the TCP share averages to about zero over the events. Serf also carries
            recent events in every later push/pull (its 512-slot event buffer); that is not in the
            window. Loopback's MTU is 65,536, so a push/pull is a few large segments here and more
            headers on Ethernet.

            ## Per event

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
                return "\(t) | \(f(x.originToLast)) | \(f(x.bytes, 0))"
            }
            text += "| \(round + 1) | \(origin) | \(cells(g)) | \(cells(s)) |\n"
        }
        return text
    }

    /// Share of events at every member against the time since firing (log scale): both
    /// systems on one axis although they are orders of magnitude apart.
    func svg() -> String {
        func cdf(_ s: EventSummary) -> [(x: Double, y: Double)] {
            let total = Double(max(s.samples.count, 1))
            var points: [(x: Double, y: Double)] = []
            for (i, t) in s.latencies.enumerated() {
                points.append((t, Double(i) / total))
                points.append((t, Double(i + 1) / total))
            }
            return points
        }
        var series: [Chart.Series] = []
        if measured(grapevine) {
            series.append(Chart.Series(label: "Grapevine (gossip-node)", color: "#1f77b4", points: cdf(grapevine)))
        }
        if measured(serf) {
            series.append(Chart.Series(label: "Serf (serf agent)", color: "#d62728", points: cdf(serf)))
        }
        return Chart.svg(
            series: series,
            title: "User event from firing to the last of \(options.cluster.nodes) loopback members (\(options.events) events each)",
            xLabel: "milliseconds (log scale)", yLabel: "share of events at every member", yMax: 1, logX: true)
    }
}
