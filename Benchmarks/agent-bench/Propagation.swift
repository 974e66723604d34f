import GrapevineTestSupport
import Foundation

/// `agent-bench propagation`: how long an endpoint added on one host takes to reach every other
/// host's kernel and to answer a ping, against a Serf user event reaching every other host's
/// handler, in the same namespaces and the same run.
struct PropagationRun {
    struct Results {
        var hosts: Int
        var rounds: Int
        /// Seconds from the `endpoint add` call until every other host's kernel held both rows.
        var kernel: [Double] = []
        /// Seconds from the `endpoint add` call until a ping from another host's container succeeded.
        var ping: [Double] = []
        /// Seconds from `serf event` until every other host's handler had run.
        var serf: [Double] = []
    }

    static let pollInterval = 0.005
    /// Bound of one round; a round that takes longer fails the run rather than hanging it.
    static let roundTimeout = 30.0

    let lab: Lab
    let hosts: Int
    let rounds: Int
    let executable: String
    var random: SplitMix

    mutating func run() throws -> Results {
        var results = Results(hosts: hosts, rounds: rounds)
        let underlay = try Underlay(lab: lab, hosts: hosts)
        try measureGrapevine(underlay, into: &results)
        try measureSerf(underlay, into: &results)
        return results
    }

    private mutating func measureGrapevine(_ underlay: Underlay, into results: inout Results) throws {
        let cluster = try GrapevineCluster(lab: lab, underlay: underlay, executable: executable)
        defer { cluster.stop() }
        let resident = try cluster.startWithResidents()
        for round in 1...rounds {
            let host = Int(random.next(below: UInt64(hosts))) + 1
            var pingHost = Int(random.next(below: UInt64(hosts - 1))) + 1
            if pingHost >= host { pingHost += 1 }
            let c = try Container.make(lab: lab, underlay: underlay, host: host, serial: round,
                                       mac: String(format: "02:00:00:01:00:%02lx", round), ip: "10.10.100.\(100 + round)")
            let pinger = resident[pingHost - 1]
            let others = (1...hosts).filter { $0 != host }

            let start = now()
            let add = try cluster.launchEndpointAdd(c)
            // Sends every 5 ms until the first reply. ping gives up early when ARP fails (host
            // unreachable errors) while the neighbour row is still on its way; it is started
            // again then, within the round's bound.
            let pingCommand = ["ip", "netns", "exec", pinger.namespace, "ping", "-q", "-n", "-c", "1", "-i", "0.005", "-w", "20", c.ip]
            var ping = try launch(pingCommand, output: FileHandle.nullDevice)
            var pingStarts = 1
            var pending = Set(others)
            var kernelDone: Double?
            var pingDone: Double?
            while kernelDone == nil || pingDone == nil {
                let t = now()
                guard t - start < Self.roundTimeout else {
                    lab.stop(ping)
                    throw BenchError("round \(round): \(c) not everywhere after \(Self.roundTimeout) s (hosts left: \(pending.sorted()), ping done: \(pingDone != nil))")
                }
                if kernelDone == nil {
                    pending = try pending.filter { try !cluster.holdsRows($0, of: c) }
                    if pending.isEmpty { kernelDone = now() - start }
                }
                if pingDone == nil && !ping.isRunning {
                    if ping.terminationStatus == 0 {
                        pingDone = now() - start
                    } else {
                        ping = try launch(pingCommand, output: FileHandle.nullDevice)
                        pingStarts += 1
                    }
                }
                pause(seconds: Self.pollInterval)
            }
            add.waitUntilExit()
            guard add.terminationStatus == 0 else { throw BenchError("round \(round): endpoint add for \(c) failed") }
            results.kernel.append(kernelDone!)
            results.ping.append(pingDone!)
            print(String(format: "grapevine round %2ld: h%ld → kernels %.1f ms, ping from h%ld %.1f ms (%ld ping processes)",
                         round, host, kernelDone! * 1000, pingHost, pingDone! * 1000, pingStarts))
        }
    }

    private mutating func measureSerf(_ underlay: Underlay, into results: inout Results) throws {
        let serf = try SerfCluster(lab: lab, underlay: underlay)
        defer { serf.stop() }
        print("serf: starting \(hosts) agents")
        try serf.start()
        try waitUntil("every serf agent sees every member alive", timeout: 120, interval: 0.2) { try serf.converged() }
        for round in 1...rounds {
            let host = Int(random.next(below: UInt64(hosts))) + 1
            let others = (1...hosts).filter { $0 != host }
            let start = now()
            // Uncoalesced: `serf event` coalesces by default, which holds events back on purpose.
            let event = try launch(["ip", "netns", "exec", underlay.namespace(host), "serf", "event", "-rpc-addr", "127.0.0.1:7373",
                                    "-coalesce=false", "bench", "\(round)"], output: Pipe())
            var pending = Set(others)
            while !pending.isEmpty {
                guard now() - start < Self.roundTimeout else {
                    throw BenchError("serf round \(round): handlers of \(pending.sorted()) did not run in \(Self.roundTimeout) s")
                }
                pending = pending.filter { !serf.handlerRan($0, round: round) }
                if pending.isEmpty { break }
                pause(seconds: Self.pollInterval)
            }
            let elapsed = now() - start
            event.waitUntilExit()
            guard event.terminationStatus == 0 else { throw BenchError("serf round \(round): serf event failed") }
            results.serf.append(elapsed)
            print(String(format: "serf round %2ld: h%ld → handlers %.1f ms", round, host, elapsed * 1000))
        }
    }
}

