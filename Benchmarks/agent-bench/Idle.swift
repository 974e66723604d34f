import GrapevineTestSupport
import Foundation

/// `agent-bench idle`: CPU and resident memory of idle agents in a cluster of N, against
/// `serf agent` in a cluster of N in the same namespaces, one after the other.
struct IdleRun {
    struct Usage {
        /// Per agent: CPU time over the window as a share of one core, in percent.
        var cpuPercent: [Double]
        /// Per agent: VmRSS at the end of the window, in MiB.
        var rssMiB: [Double]
        var meanCPU: Double { cpuPercent.reduce(0, +) / Double(max(1, cpuPercent.count)) }
        var meanRSS: Double { rssMiB.reduce(0, +) / Double(max(1, rssMiB.count)) }
    }

    struct Results {
        var hosts: Int
        var seconds: Double
        var settle: Double
        var grapevine: Usage
        var serf: Usage
    }

    let lab: Lab
    let hosts: Int
    let seconds: Double
    let executable: String
    /// Time after convergence before the window opens, so that joins and the first reconciles
    /// (and the agent's startup grace) are not counted as idling.
    let settle = 15.0

    func run() throws -> Results {
        let underlay = try Underlay(lab: lab, hosts: hosts)
        let grapevine: Usage
        do {
            let cluster = try GrapevineCluster(lab: lab, underlay: underlay, executable: executable)
            defer { cluster.stop() }
            try cluster.startWithResidents()
            grapevine = try measure("grapevine", Array(cluster.agents.values))
        }
        let serfUsage: Usage
        do {
            let serf = try SerfCluster(lab: lab, underlay: underlay)
            defer { serf.stop() }
            print("serf: starting \(hosts) agents")
            try serf.start()
            try waitUntil("every serf agent sees every member alive", timeout: 120, interval: 0.2) { try serf.converged() }
            serfUsage = try measure("serf", Array(serf.agents.values))
        }
        return Results(hosts: hosts, seconds: seconds, settle: settle, grapevine: grapevine, serf: serfUsage)
    }

    private func measure(_ name: String, _ processes: [Process]) throws -> Usage {
        print("\(name): settling \(Int(settle)) s, then measuring \(Int(seconds)) s")
        pause(seconds: settle)
        let pids = processes.map(\.processIdentifier)
        let before = try pids.map(ProcessStats.cpuTicks)
        let start = now()
        pause(seconds: seconds)
        let after = try pids.map(ProcessStats.cpuTicks)
        let window = now() - start
        for process in processes where !process.isRunning { throw BenchError("\(name): an agent exited during the window") }
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        let cpu = zip(before, after).map { Double($1 - $0) / ticksPerSecond / window * 100 }
        let rss = try pids.map { Double(try ProcessStats.rssKiB($0)) / 1024 }
        let usage = Usage(cpuPercent: cpu, rssMiB: rss)
        print(String(format: "%@: CPU %.2f %% per agent (mean), RSS %.1f MiB per agent (mean)", name, usage.meanCPU, usage.meanRSS))
        return usage
    }
}

/// Figures from /proc (proc(5)).
enum ProcessStats {
    /// utime + stime of `pid`, in clock ticks: fields 14 and 15 of /proc/PID/stat, counted after
    /// the command name, which is in parentheses and may itself hold spaces.
    static func cpuTicks(_ pid: Int32) throws -> Int {
        let text = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        guard let ticks = parseCPUTicks(stat: text) else { throw BenchError("cannot read /proc/\(pid)/stat") }
        return ticks
    }

    static func parseCPUTicks(stat text: String) -> Int? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        // After ")": field 3 (state) is the first; utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return user + system
    }

    /// VmRSS of `pid`, in KiB.
    static func rssKiB(_ pid: Int32) throws -> Int {
        let text = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw BenchError("no VmRSS in /proc/\(pid)/status")
        }
        return kib
    }
}
