import ArgumentParser
import Foundation

/// Idle cost of one member of a 32-node loopback cluster: `gossip-node` next to `serf agent`,
/// both clusters running at the same time, read from /proc (utime+stime, VmRSS).
struct Idle: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Idle CPU and RSS of gossip-node vs serf agent in loopback clusters (the default).")

    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Seconds to let both clusters converge before measuring.") var settle = 15
    @Option(help: "Seconds to measure.") var duration = 30

    func run() throws {
        Teardown.shared.catchSignals()
        defer { Teardown.shared.run() }
        let clusters = try Clusters(cluster, serfLogLevel: "err")
        let nodes = cluster.nodes
        sleep(UInt32(settle))
        let seen = (clusters.grapevineSees(nodes - 1) + 1, clusters.serfAlive(0))
        print("converged: gossip-node \(seen.0)/\(nodes), serf \(seen.1)/\(nodes)")
        let ours = clusters.grapevine
        let theirs = clusters.serf

        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let start = Date()
        let cpu0 = (ours.map { cpuTicks($0.processIdentifier) }, theirs.map { cpuTicks($0.processIdentifier) })
        var rssOurs: [Double] = []
        var rssTheirs: [Double] = []
        var extra: [(Double, Double, Double, Double)] = []
        for _ in 0..<duration {
            sleep(1)
            rssOurs.append(ours.map { rssKiB($0.processIdentifier) }.reduce(0, +) / Double(nodes))
            rssTheirs.append(theirs.map { rssKiB($0.processIdentifier) }.reduce(0, +) / Double(nodes))
            func mean(_ ps: [Process], _ f: (Int32) -> Double) -> Double {
                ps.map { f($0.processIdentifier) }.reduce(0, +) / Double(nodes) / 1024
            }
            extra.append((mean(ours, anonKiB), mean(theirs, anonKiB), mean(ours, pssKiB), mean(theirs, pssKiB)))
        }
        let elapsed = Date().timeIntervalSince(start)
        let cpu1 = (ours.map { cpuTicks($0.processIdentifier) }, theirs.map { cpuTicks($0.processIdentifier) })
        func percent(_ a: [Int], _ b: [Int]) -> Double {
            Double(zip(a, b).map { $1 - $0 }.reduce(0, +)) / ticks / elapsed / Double(nodes) * 100
        }
        let cpuOurs = percent(cpu0.0, cpu1.0)
        let cpuTheirs = percent(cpu0.1, cpu1.1)
        let memOurs = rssOurs.reduce(0, +) / Double(rssOurs.count) / 1024
        let memTheirs = rssTheirs.reduce(0, +) / Double(rssTheirs.count) / 1024
        let alive = (ours.filter(\.isRunning).count, theirs.filter(\.isRunning).count)
        print("still running after measuring: gossip-node \(alive.0)/\(nodes), serf \(alive.1)/\(nodes)")
        print("")
        print("| per member, \(nodes) members, \(Int(elapsed)) s idle | gossip-node | serf agent | ratio |")
        print("| --- | --- | --- | --- |")
        print(String(format: "| CPU (%% of one core) | %.3f | %.3f | %.2f |", cpuOurs, cpuTheirs, cpuOurs / max(cpuTheirs, 1e-9)))
        print(String(format: "| RSS (MiB) | %.1f | %.1f | %.2f |", memOurs, memTheirs, memOurs / max(memTheirs, 1e-9)))
        let n = Double(max(extra.count, 1))
        let anon = (extra.map(\.0).reduce(0, +) / n, extra.map(\.1).reduce(0, +) / n)
        let pss = (extra.map(\.2).reduce(0, +) / n, extra.map(\.3).reduce(0, +) / n)
        print(String(format: "| RssAnon, private (MiB) | %.1f | %.1f | %.2f |", anon.0, anon.1, anon.0 / max(anon.1, 1e-9)))
        print(String(format: "| PSS (MiB) | %.1f | %.1f | %.2f |", pss.0, pss.1, pss.0 / max(pss.1, 1e-9)))
    }
}

/// utime + stime in clock ticks (fields 14 and 15 of /proc/PID/stat, after the command name).
func cpuTicks(_ pid: Int32) -> Int {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let u = Int(fields[11]), let s = Int(fields[12]) else { return 0 }
    return u + s
}

func rssKiB(_ pid: Int32) -> Double { procField(pid, file: "status", key: "VmRSS:") }

/// Private (anonymous) resident memory: what each extra process really costs, since the pages
/// of shared libraries are counted in every process's RSS.
func anonKiB(_ pid: Int32) -> Double { procField(pid, file: "status", key: "RssAnon:") }

/// Proportional set size: shared pages divided among the processes that map them.
func pssKiB(_ pid: Int32) -> Double { procField(pid, file: "smaps_rollup", key: "Pss:") }

func procField(_ pid: Int32, file: String, key: String) -> Double {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/\(file)", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix(key) {
        return Double(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
    return 0
}
