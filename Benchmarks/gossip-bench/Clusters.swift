import ArgumentParser
import Foundation

struct ClusterOptions: ParsableArguments {
    @Option(help: "Members per cluster.") var nodes = 32
    @Option(help: "First port of the gossip-node cluster (each node takes one, UDP and TCP).") var gossipPort = 24000
    @Option(help: "First gossip port of the serf cluster (each agent takes one, UDP and TCP).") var serfPort = 25000
    @Option(help: "First RPC port of the serf cluster (each agent takes one).") var serfRpcPort = 26000
    @Option(help: "gossip-node executable (default: next to this one).") var gossipNode: String?
    @Option(help: "serf executable.") var serf = "/usr/bin/serf"

    var gossipPorts: ClosedRange<Int> { gossipPort...(gossipPort + nodes - 1) }
    var serfPorts: ClosedRange<Int> { serfPort...(serfPort + nodes - 1) }
    var serfRpcPorts: ClosedRange<Int> { serfRpcPort...(serfRpcPort + nodes - 1) }

    func validate() throws {
        guard (2...500).contains(nodes) else { throw ValidationError("--nodes must be 2...500") }
        let ranges = [gossipPorts, serfPorts, serfRpcPorts]
        for r in ranges where r.lowerBound < 1024 || r.upperBound > 65535 {
            throw ValidationError("ports \(r) are outside 1024...65535")
        }
        // The byte counters tell the systems apart by port, and RPC traffic must not count.
        for (i, a) in ranges.enumerated() {
            for b in ranges[(i + 1)...] where a.overlaps(b) {
                throw ValidationError("port ranges \(a) and \(b) overlap")
            }
        }
    }
}

/// A 32-member (`--nodes`) loopback cluster of `gossip-node` and one of `serf agent`, both on
/// their LAN defaults, unencrypted, every process's stdout and stderr read through one
/// `LineTap`: sources `0..<n` are the gossip-nodes, `n..<2n` the serf agents.
final class Clusters {
    let options: ClusterOptions
    let grapevine: [Process]
    let serf: [Process]
    let tap: LineTap
    private let stdins: [FileHandle]
    // Held so their file handles stay open: a Pipe closes its descriptors when it goes away.
    private let pipes: [Pipe]

    var n: Int { options.nodes }
    var grapevineSources: Range<Int> { 0..<n }
    var serfSources: Range<Int> { n..<(2 * n) }

    /// `serfLogLevel`: `info` to see the agents' "Received event" lines, `err` for a quiet run,
    /// nil for no serf cluster at all (a benchmark with no Serf counterpart).
    init(_ options: ClusterOptions, serfLogLevel: String?) throws {
        self.options = options
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let gossipExe = options.gossipNode ?? here.appendingPathComponent("gossip-node").path
        var ours: [Process] = []
        var theirs: [Process] = []
        var stdins: [FileHandle] = []
        var outputs: [Int32] = []
        var serfOutputs: [Int32] = []
        var pipes: [Pipe] = []
        func spawn(_ exe: String, _ args: [String], stdin: Pipe?) throws -> (Process, Int32) {
            let out = Pipe()
            let p = Process(exe, args, output: out, input: stdin)
            pipes.append(out)
            if let stdin { pipes.append(stdin) }
            try Teardown.shared.start(p)
            return (p, out.fileHandleForReading.fileDescriptor)
        }
        for i in 0..<options.nodes {
            var args = ["--name", "g\(i)", "--bind", "127.0.0.1:\(options.gossipPort + i)", "--log-level", "error"]
            if i > 0 { args += ["--join", "127.0.0.1:\(options.gossipPort)"] }
            // Commands go in through stdin; an idle run just never writes.
            let stdin = Pipe()
            let (g, gOut) = try spawn(gossipExe, args, stdin: stdin)
            ours.append(g)
            outputs.append(gOut)
            stdins.append(stdin.fileHandleForWriting)
            if let serfLogLevel {
                var serfArgs = [
                    "agent", "-node=s\(i)", "-bind=127.0.0.1:\(options.serfPort + i)",
                    "-rpc-addr=127.0.0.1:\(options.serfRpcPort + i)", "-log-level=\(serfLogLevel)",
                ]
                if i > 0 { serfArgs.append("-join=127.0.0.1:\(options.serfPort)") }
                let (s, sOut) = try spawn(options.serf, serfArgs, stdin: nil)
                theirs.append(s)
                serfOutputs.append(sOut)
            }
            if i == 0 { usleep(300_000) }
        }
        grapevine = ours
        serf = theirs
        self.stdins = stdins
        self.pipes = pipes
        tap = try LineTap(fds: outputs + serfOutputs)
    }

    deinit { tap.stop() }

    func serfRPC(_ i: Int) -> String { "127.0.0.1:\(options.serfRpcPort + i)" }

    /// Members alive in serf agent `i`'s view, itself included (-1: the CLI failed).
    func serfAlive(_ i: Int) -> Int {
        guard let r = try? runCommand(options.serf, ["members", "-rpc-addr=\(serfRPC(i))", "-status=alive"]),
            r.status == 0
        else { return -1 }
        return r.output.split(separator: "\n").count
    }

    /// Other members gossip-node `i` holds live, from its membership lines so far.
    func grapevineSees(_ i: Int) -> Int {
        var live: Set<Substring> = []
        for line in tap.lines(of: i) {
            let words = line.split(separator: " ", maxSplits: 2)
            guard words.count >= 2, words[1] != "g\(i)" else { continue }
            switch words[0] {
            case "joined", "recovered", "updated", "suspected": live.insert(words[1])
            case "failed", "left", "reaped": live.remove(words[1])
            default: continue
            }
        }
        return live.count
    }

    /// Waits (at most `timeout` s) until every member of both clusters sees all the others;
    /// returns how many members of each do.
    func waitConverged(timeout: Double) -> (grapevine: Int, serf: Int) {
        let deadline = Date().addingTimeInterval(timeout)
        var result = (grapevine: 0, serf: 0)
        repeat {
            result.grapevine = (0..<n).count { grapevineSees($0) == n - 1 }
            result.serf = serf.isEmpty ? n : (0..<n).count { serfAlive($0) == n }
            if result == (n, n) { break }
            sleep(1)
        } while Date() < deadline
        return result
    }

    /// One command line to gossip-node `i`'s stdin.
    func send(_ line: String, to i: Int) throws {
        do { try stdins[i].write(contentsOf: Data((line + "\n").utf8)) } catch {
            throw BenchError("gossip-node g\(i) does not take commands: \(error)")
        }
    }
}
