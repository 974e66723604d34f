import GrapevineTestSupport
import Foundation

/// The Markdown reports under Docs/benchmarks/, one per sub-command and size.
struct Report {
    var title: String
    var command: String
    var body: String

    /// The machine and the moment, since absolute figures on a shared machine move between runs.
    static func machine() -> String {
        let kernel = (try? sh("uname", "-r").trimmingCharacters(in: .whitespacesAndNewlines)) ?? "?"
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let load = ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?")
            .split(separator: " ").prefix(3).joined(separator: " ")
        let serf = (try? sh("serf", "version"))?.split(separator: "\n").first.map(String.init) ?? "serf ?"
        let date = ISO8601DateFormatter().string(from: Date())
        return "\(date), Linux \(kernel), \(cores) cores shared with other work (load average \(load) at the end), "
            + "Serf " + serf
    }

    func write(to path: String) throws {
        let text = """
        # \(title)

        Written by `agent-bench` (Benchmarks/agent-bench), release build, as root: \(Self.machine()).
        Rerun with:

            swift build -c release --product agent-bench --product grapevine
            .build/release/agent-bench \(command)

        \(body)
        """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        print("wrote \(path)")
    }
}

func ms(_ seconds: Double) -> String { String(format: "%.1f", seconds * 1000) }
func ratio(_ a: Double, _ b: Double) -> String { b > 0 ? String(format: "%.2fx", a / b) : "–" }

extension PropagationRun.Results {
    func markdown() -> String {
        var text = """
        \(hosts) host namespaces on one switch; a real `grapevine agent` in each (encrypted, network `blue`,
        VNI 100), one container per host. \(rounds) rounds: a new container namespace on a random host,
        then `grapevine endpoint add` on that host. The clock starts just before the CLI process is
        started (its start-up is included) and is read every 5 ms: **kernel** is until every other host's
        kernel holds both the FDB row (MAC → VTEP) and the neighbour row (IP → MAC), read by netlink
        dumps of each host's gvx100; **ping** is until a container on another (random) host gets its
        first reply, pinging every 5 ms from the start (ARP retransmit 10 ms in the containers).
        Baseline, same namespaces and run, after the agents stopped: `serf agent` on the same addresses,
        encrypted; `serf event -coalesce=false` from a random host, timed until every other host's
        handler script has run (it creates a file, polled every 5 ms).

        | what | median (ms) | p90 (ms) | max (ms) | median vs Serf |
        | --- | ---: | ---: | ---: | ---: |

        """
        let serfSummary = Summary(serf)
        for (name, values) in [("grapevine: every kernel has the rows", kernel), ("grapevine: first ping reply", ping),
                               ("serf: every handler has run", serf)] {
            guard let s = Summary(values) else { continue }
            text += "| \(name) | \(ms(s.median)) | \(ms(s.p90)) | \(ms(s.max)) | \(ratio(s.median, serfSummary?.median ?? 0)) |\n"
        }
        text += "\nEvery round (ms), in order: kernel \(kernel.map(ms).joined(separator: ", ")); "
        text += "ping \(ping.map(ms).joined(separator: ", ")); serf \(serf.map(ms).joined(separator: ", ")).\n"
        return text
    }
}

extension ReconcileRun.Results {
    func markdown() -> String {
        let cold = steps.first { $0.name.hasPrefix("cold") }?.seconds ?? 0
        let baselineRate = Double(rows) / baselineSeconds
        var text = """
        A VXLAN device (down) in a fresh namespace; desired rows for \(endpoints) remote endpoints on 8 remote
        hosts built with `Overlay` (`Replica` → `DesiredState`): \(rows) rows (unicast FDB, neighbour, 8 flood).
        `DeviceReconciler.reconcile` (dump, diff, apply) cold on the empty device, then again (warm: the
        benchmark fails unless it computes zero operations), then after a restart-like change of 1 % of the
        endpoints (half moved to another host, a quarter gone, a quarter new; a further run must again
        find nothing to do). Baseline in the same run: `bridge -batch` (FDB) then `ip -batch` (neighbours)
        adding the same rows to another fresh device, process start-up included.

        | step | time (ms) | operations | rows/s | vs `bridge -batch` + `ip -batch` |
        | --- | ---: | ---: | ---: | ---: |

        """
        for s in steps {
            let rate = s.name.hasPrefix("cold") ? Double(rows) / s.seconds : nil
            text += "| reconcile, \(s.name) | \(ms(s.seconds)) | \(s.operations) | "
            text += "\(rate.map { String(format: "%.0f", $0) } ?? "–") | \(rate.map { ratio($0, baselineRate) } ?? "–") |\n"
        }
        text += "| `bridge -batch` + `ip -batch`, empty device | \(ms(baselineSeconds)) | \(rows) | "
        text += "\(String(format: "%.0f", baselineRate)) | 1.00x |\n"
        text += "\nThe cold reconcile writes \(ratio(baselineSeconds, cold)) as many rows per second as the tools; "
        text += "the warm one only dumps and diffs.\n"
        return text
    }
}

extension IdleRun.Results {
    func markdown() -> String {
        func row(_ name: String, _ u: IdleRun.Usage) -> String {
            "| \(name) | \(String(format: "%.2f", u.meanCPU)) | \(String(format: "%.2f", u.cpuPercent.max() ?? 0)) | "
                + "\(String(format: "%.1f", u.meanRSS)) | \(String(format: "%.1f", u.rssMiB.max() ?? 0)) |\n"
        }
        var text = """
        \(hosts) host namespaces on one switch. First \(hosts) `grapevine agent`s (encrypted, network `blue`, one
        container endpoint per host), then, after they stopped, \(hosts) `serf agent`s (encrypted, no handlers
        run) on the same addresses and port. Each cluster is left \(Int(settle)) s after it converged, then
        utime + stime is read from `/proc/PID/stat` at the start and end of a \(Int(seconds)) s window, and
        `VmRSS` from `/proc/PID/status` at its end. CPU % is of one core.

        | agent | CPU % per agent (mean) | CPU % (max) | RSS MiB per agent (mean) | RSS MiB (max) |
        | --- | ---: | ---: | ---: | ---: |

        """
        text += row("grapevine agent", grapevine)
        text += row("serf agent", serf)
        text += "\nRatio grapevine / Serf: CPU \(ratio(grapevine.meanCPU, serf.meanCPU)), RSS \(ratio(grapevine.meanRSS, serf.meanRSS)).\n"
        return text
    }
}
