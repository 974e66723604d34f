import ArgumentParser
import Foundation

/// Idle cost of one member of a 32-node loopback cluster: `gossip-node` next to `serf agent`,
/// both clusters running at the same time, read from /proc (utime+stime, VmRSS).
struct GossipBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gossip-bench", abstract: "Idle CPU and RSS of gossip-node vs serf agent in loopback clusters.")

    @Option(help: "Members per cluster.") var nodes = 32
    @Option(help: "Seconds to let both clusters converge before measuring.") var settle = 15
    @Option(help: "Seconds to measure.") var duration = 30
    @Option(help: "First port of the gossip-node cluster (each node takes one).") var gossipPort = 24000
    @Option(help: "First port of the serf cluster (each agent takes two).") var serfPort = 25000
    @Option(help: "gossip-node executable (default: next to this one).") var gossipNode: String?
    @Option(help: "serf executable.") var serf = "/usr/bin/serf"

    func run() throws {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let gossipExe = gossipNode ?? here.appendingPathComponent("gossip-node").path
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gossip-bench-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        var all: [Process] = []
        // Every process is stopped whatever happens below.
        defer {
            for p in all where p.isRunning { p.terminate() }
            let deadline = Date().addingTimeInterval(10)
            while all.contains(where: \.isRunning) && Date() < deadline { usleep(50_000) }
            for p in all where p.isRunning { kill(p.processIdentifier, SIGKILL) }
            for p in all { p.waitUntilExit() }
            try? FileManager.default.removeItem(at: scratch)
        }
        func spawn(_ exe: String, _ args: [String], output: URL) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = args
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            p.standardOutput = try FileHandle(forWritingTo: output)
            p.standardError = FileHandle.nullDevice
            try p.run()
            all.append(p)
            return p
        }
        var ours: [Process] = []
        var theirs: [Process] = []
        for i in 0..<nodes {
            var args = ["--name", "g\(i)", "--bind", "127.0.0.1:\(gossipPort + i)", "--log-level", "error"]
            if i > 0 { args += ["--join", "127.0.0.1:\(gossipPort)"] }
            ours.append(try spawn(gossipExe, args, output: scratch.appendingPathComponent("g\(i).out")))
            var serfArgs = [
                "agent", "-node=s\(i)", "-bind=127.0.0.1:\(serfPort + 2 * i)", "-rpc-addr=127.0.0.1:\(serfPort + 2 * i + 1)",
                "-log-level=err",
            ]
            if i > 0 { serfArgs.append("-join=127.0.0.1:\(serfPort)") }
            theirs.append(try spawn(serf, serfArgs, output: scratch.appendingPathComponent("s\(i).out")))
            if i == 0 { usleep(300_000) }
        }
        sleep(UInt32(settle))
        let gossipSeen = Set(
            ((try? String(contentsOf: scratch.appendingPathComponent("g\(nodes - 1).out"), encoding: .utf8)) ?? "")
                .split(separator: "\n").filter { $0.hasPrefix("joined ") }.map { $0.split(separator: " ")[1] }
        ).count
        let serfSeen = serfAlive(rpc: "127.0.0.1:\(serfPort + 1)")
        print("converged: gossip-node \(gossipSeen)/\(nodes), serf \(serfSeen)/\(nodes)")

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

    func serfAlive(rpc: String) -> Int {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: serf)
        p.arguments = ["members", "-rpc-addr=\(rpc)", "-status=alive"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return -1 }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").count
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

GossipBench.main()
