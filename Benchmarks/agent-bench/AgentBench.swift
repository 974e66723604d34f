// agent-bench: the agent's figures against Serf and the kernel's tools, measured in the same run.
// Release build, as root (it makes and deletes its own network namespaces, gvbench<pid>-…):
//
//   swift build -c release --product agent-bench --product grapevine
//   .build/release/agent-bench propagation --hosts 3
//   .build/release/agent-bench reconcile --endpoints 10000
//   .build/release/agent-bench idle --hosts 16 --seconds 30
//   .build/release/agent-bench docker --runs 20 --containers 50
//   .build/release/agent-bench names --runs 20 --lookups 200
import GrapevineTestSupport
import ArgumentParser
import Foundation

@main
struct AgentBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-bench",
        abstract: "Benchmarks of `grapevine agent` in network namespaces, with a baseline in the same run.",
        subcommands: [Propagation.self, Reconcile.self, Idle.self, DockerCommand.self, NamesCommand.self])
}

struct CommonOptions: ParsableArguments {
    @Option(help: "The grapevine executable (default: next to this one).")
    var grapevine: String?

    @Option(help: "Directory the Markdown report is written to.")
    var out = "Docs/benchmarks"

    @Flag(help: "Print the figures only.")
    var noWrite = false

    var executable: String {
        if let grapevine { return grapevine }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("grapevine").path
    }

    /// Runs `body` in a new `Lab`, which is torn down afterwards whatever happens.
    func withLab<T>(_ body: (Lab) throws -> T) throws -> T {
        guard geteuid() == 0 else { throw ValidationError("agent-bench needs root (it makes network namespaces)") }
        let lab = try Lab()
        defer { lab.tearDown() }
        return try body(lab)
    }

    func write(_ report: Report, as name: String) throws {
        guard !noWrite else { return }
        try report.write(to: out + "/" + name)
    }
}

struct Propagation: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time from `grapevine endpoint add` until every other host's kernel has the rows and a ping succeeds, against a Serf user event.")

    @Option(help: "Host namespaces (2–32).") var hosts = 3
    @Option(help: "Endpoints added, one per round (1–100).") var rounds = 20
    @Option(help: "Seed of the choice of hosts.") var seed: UInt64 = 1
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (2...32).contains(hosts) else { throw ValidationError("--hosts must be 2–32") }
        guard (1...100).contains(rounds) else { throw ValidationError("--rounds must be 1–100") }
    }

    func run() throws {
        let results = try common.withLab { lab in
            var run = PropagationRun(lab: lab, hosts: hosts, rounds: rounds, executable: common.executable,
                                     random: SplitMix(seed: seed))
            return try run.run()
        }
        try common.write(Report(title: "Agent: endpoint propagation, \(hosts) hosts",
                                command: "propagation --hosts \(hosts) --rounds \(rounds) --seed \(seed)",
                                body: results.markdown()),
                         as: "AGENT-PROPAGATION-\(hosts).md")
    }
}

struct Reconcile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "DeviceReconciler.reconcile cold, warm and after a 1 % change, against bridge -batch + ip -batch.")

    @Option(help: "Remote endpoints (1–200000).") var endpoints = 10_000
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (1...200_000).contains(endpoints) else { throw ValidationError("--endpoints must be 1–200000") }
    }

    func run() throws {
        let results = try common.withLab { lab in try ReconcileRun(lab: lab, endpoints: endpoints).run() }
        try common.write(Report(title: "Agent: reconcile, \(endpoints) endpoints",
                                command: "reconcile --endpoints \(endpoints)", body: results.markdown()),
                         as: "AGENT-RECONCILE-\(endpoints).md")
    }
}

struct Idle: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Idle CPU and RSS per agent in a cluster, against serf agent in a cluster of the same size.")

    @Option(help: "Host namespaces (2–32).") var hosts = 3
    @Option(help: "Length of the measuring window in seconds (5–600).") var seconds = 30
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (2...32).contains(hosts) else { throw ValidationError("--hosts must be 2–32") }
        guard (5...600).contains(seconds) else { throw ValidationError("--seconds must be 5–600") }
    }

    func run() throws {
        let results = try common.withLab { lab in
            try IdleRun(lab: lab, hosts: hosts, seconds: Double(seconds), executable: common.executable).run()
        }
        try common.write(Report(title: "Agent: idle CPU and memory, \(hosts) hosts",
                                command: "idle --hosts \(hosts) --seconds \(seconds)", body: results.markdown()),
                         as: "AGENT-IDLE-\(hosts).md")
    }
}
