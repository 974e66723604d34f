import ArgumentParser
import Foundation

/// The crash-detection benchmark of issue 23: in each round one member of each cluster is
/// killed with SIGKILL at the same moment (the host stays, so its kernel answers probes with
/// ICMP port unreachable), and the time until every survivor reports it failed is taken from
/// the survivors' own lines. Then one member of each is paused with SIGSTOP for `--pause`
/// seconds and resumed: any survivor reporting it failed is a false positive.
/// Docs/benchmarks/DETECTION.md says how.
struct Detection: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time from SIGKILL of a member until every member reports it failed, gossip-node vs serf agent; and a SIGSTOP that must not be reported.")

    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Members killed per system, one per round.") var rounds = 5
    @Option(help: "Seconds to wait for every survivor before a round counts as missed.") var timeout = 40.0
    @Option(help: "Seconds between rounds (the killed member's news dies down).") var gap = 3.0
    @Option(help: "Seconds each paused member stays stopped.") var pause = 7.0
    @Option(help: "Seconds to watch for a false report after the paused member resumes.") var afterPause = 10.0
    @Option(help: "Seconds to wait for both clusters to converge.") var convergeTimeout = 90.0
    @Option(help: "Label of this run in the report (e.g. before, after).") var label = "run"
    @Option(help: "Markdown file the run's section is appended to.") var markdown = "Docs/benchmarks/DETECTION.md"
    @Flag(help: "Print only; write nothing.") var noWrite = false

    func validate() throws {
        guard (1...20).contains(rounds), rounds + 2 < cluster.nodes else {
            throw ValidationError("--rounds must be 1...20 and leave at least 3 members")
        }
    }

    func run() throws {
        Teardown.shared.catchSignals()
        defer { Teardown.shared.run() }
        let clusters = try Clusters(cluster, serfLogLevel: "info")
        let converged = clusters.waitConverged(timeout: convergeTimeout)
        say("converged: gossip-node \(converged.grapevine)/\(cluster.nodes), serf \(converged.serf)/\(cluster.nodes) members see all")
        guard converged == (cluster.nodes, cluster.nodes) else { throw BenchError("the clusters did not converge") }
        sleep(5)
        var dead: Set<Int> = []
        var samples: [BenchSystem: [[Double]]] = [.grapevine: [], .serf: []]
        var missed: [BenchSystem: Int] = [.grapevine: 0, .serf: 0]
        // Victims from the far end: member 0 is the seed everyone joined through.
        for round in 0..<rounds {
            let victim = cluster.nodes - 1 - round
            let mark = clusters.tap.mark()
            let killed = monotonicNanos()
            kill(clusters.grapevine[victim].processIdentifier, SIGKILL)
            kill(clusters.serf[victim].processIdentifier, SIGKILL)
            dead.insert(victim)
            let deadline = killed + UInt64(timeout * 1e9)
            for system in [BenchSystem.grapevine, .serf] {
                let survivors = survivorSources(system, clusters, dead: dead)
                let line = failedLine(system, member: victim)
                let seen = clusters.tap.firstMatches(
                    in: range(system, clusters), after: mark, want: survivors.count, deadline: deadline
                ) { s, text in survivors.contains(s) && line(text) }
                let ms = survivors.compactMap { seen[$0].map { (Double($0) - Double(killed)) / 1e6 } }.sorted()
                if ms.count < survivors.count { missed[system, default: 0] += 1 }
                samples[system, default: []].append(ms)
                say(
                    "round \(round) \(system.title): \(ms.count)/\(survivors.count) report member \(victim) failed; "
                        + "first \(fmt(ms.first)) ms, median \(fmt(EventSummary.median(ms))) ms, last \(fmt(ms.count == survivors.count ? ms.last : nil)) ms")
            }
            sleep(UInt32(gap))
        }

        // The pause: a member that stops answering for `pause` s but whose socket stays open.
        let paused = 1
        let mark = clusters.tap.mark()
        kill(clusters.grapevine[paused].processIdentifier, SIGSTOP)
        kill(clusters.serf[paused].processIdentifier, SIGSTOP)
        usleep(UInt32(pause * 1e6))
        kill(clusters.grapevine[paused].processIdentifier, SIGCONT)
        kill(clusters.serf[paused].processIdentifier, SIGCONT)
        usleep(UInt32(afterPause * 1e6))
        var falseReports: [BenchSystem: Int] = [:]
        var suspected: [BenchSystem: Int] = [:]
        for system in [BenchSystem.grapevine, .serf] {
            let failed = failedLine(system, member: paused)
            let suspect = suspectLine(system, member: paused)
            let counts = clusters.tap.count(in: range(system, clusters), after: mark) { _, t in failed(t) }
            let suspects = clusters.tap.count(in: range(system, clusters), after: mark) { _, t in suspect(t) }
            falseReports[system] = counts.values.count { $0 > 0 }
            suspected[system] = suspects.values.count { $0 > 0 }
            say(
                "pause \(Int(pause)) s \(system.title): \(falseReports[system]!) members reported member \(paused) failed, "
                    + "\(suspected[system]!) suspected it")
        }

        let report = DetectionReport(
            label: label, options: self, samples: samples, missed: missed, falseReports: falseReports,
            suspected: suspected, versions: Versions.read(serf: cluster.serf))
        say("")
        say(report.section())
        if !noWrite {
            let existing = (try? String(contentsOfFile: markdown, encoding: .utf8)) ?? ""
            try (existing + (existing.isEmpty ? "" : "\n") + report.section()).write(
                toFile: markdown, atomically: true, encoding: .utf8)
            say("appended to \(markdown)")
        }
    }

    private func range(_ system: BenchSystem, _ c: Clusters) -> Range<Int> {
        system == .serf ? c.serfSources : c.grapevineSources
    }

    private func survivorSources(_ system: BenchSystem, _ c: Clusters, dead: Set<Int>) -> [Int] {
        let base = range(system, c).lowerBound
        return (0..<c.n).filter { !dead.contains($0) }.map { base + $0 }
    }

    /// gossip-node prints `failed NAME ADDRESS INCARNATION`; serf logs
    /// `serf: EventMemberFailed: NAME ADDRESS`.
    private func failedLine(_ system: BenchSystem, member i: Int) -> (String) -> Bool {
        switch system {
        case .grapevine:
            let prefix = "failed g\(i) "
            return { $0.hasPrefix(prefix) }
        case .serf:
            let needle = "EventMemberFailed: s\(i) "
            return { $0.contains(needle) }
        }
    }

    private func suspectLine(_ system: BenchSystem, member i: Int) -> (String) -> Bool {
        switch system {
        case .grapevine:
            let prefix = "suspected g\(i) "
            return { $0.hasPrefix(prefix) }
        case .serf:
            let needle = "Suspect s\(i) "
            return { $0.contains(needle) }
        }
    }
}

private func fmt(_ x: Double?) -> String { x.map { String(format: "%.0f", $0) } ?? "-" }

/// One run's section of Docs/benchmarks/DETECTION.md.
struct DetectionReport {
    var label: String
    var options: Detection
    var samples: [BenchSystem: [[Double]]]
    var missed: [BenchSystem: Int]
    var falseReports: [BenchSystem: Int]
    var suspected: [BenchSystem: Int]
    var versions: Versions

    func section() -> String {
        let stamp = ISO8601DateFormatter().string(from: Date())
        func all(_ s: BenchSystem) -> [Double] { (samples[s] ?? []).flatMap { $0 }.sorted() }
        func lastPerRound(_ s: BenchSystem) -> [Double] {
            (samples[s] ?? []).enumerated().compactMap { r, ms in ms.count == options.cluster.nodes - 1 - r ? ms.last : nil }.sorted()
        }
        func row(_ what: String, _ g: Double?, _ s: Double?) -> String {
            let ratio = (g != nil && s != nil && s! > 0) ? String(format: "%.2fx", g! / s!) : "-"
            return "| \(what) | \(fmt(g)) | \(fmt(s)) | \(ratio) |"
        }
        let gAll = all(.grapevine)
        let sAll = all(.serf)
        let gLast = lastPerRound(.grapevine)
        let sLast = lastPerRound(.serf)
        var lines = [
            "## \(label): \(stamp)",
            "",
            "\(versions.grapevine); \(versions.serf); \(versions.machine). \(options.cluster.nodes) members per cluster, "
                + "\(options.rounds) SIGKILL rounds, pause \(Int(options.pause)) s.",
            "",
            "| ms from SIGKILL | gossip-node | serf agent | ratio |",
            "| --- | --- | --- | --- |",
            row("every member's report, p50", EventSummary.median(gAll), EventSummary.median(sAll)),
            row("last member's report, p50 over rounds", EventSummary.median(gLast), EventSummary.median(sLast)),
            row("last member's report, slowest round", gLast.last, sLast.last),
            "",
            "Rounds missed (a survivor had not reported within \(Int(options.timeout)) s): gossip-node \(missed[.grapevine] ?? 0), serf \(missed[.serf] ?? 0).",
            "Paused \(Int(options.pause)) s with SIGSTOP: gossip-node reported failed by \(falseReports[.grapevine] ?? 0) members (suspected by \(suspected[.grapevine] ?? 0)); "
                + "serf by \(falseReports[.serf] ?? 0) (suspected by \(suspected[.serf] ?? 0)).",
            "",
        ]
        for s in [BenchSystem.grapevine, .serf] {
            let per = (samples[s] ?? []).map { ms in "\(fmt(EventSummary.median(ms)))/\(fmt(ms.last))" }
            lines.append("\(s.title) per round (median/last ms): \(per.joined(separator: ", ")).")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
