import GrapevineTestSupport
import ArgumentParser
import Foundation

struct NamesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "names",
        abstract: "`docker run` until the container answers by name from every other host, and lookup latency through dockerd's resolver: grapevine against Docker's Swarm overlay on the same dockerds.")

    @Option(help: "Host namespaces, each with an agent and a dockerd (2–8).") var hosts = 3
    @Option(help: "Rounds of `docker run` per driver, rotating the host (1–100).") var runs = 20
    @Option(help: "Lookups of each name in the latency part (10–10000).") var lookups = 200
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (2...8).contains(hosts) else { throw ValidationError("--hosts must be 2–8") }
        guard (1...100).contains(runs) else { throw ValidationError("--runs must be 1–100") }
        guard (10...10_000).contains(lookups) else { throw ValidationError("--lookups must be 10–10000") }
    }

    func run() throws {
        guard geteuid() == 0 else { throw ValidationError("agent-bench needs root (it makes network namespaces and runs dockerd)") }
        for tool in ["dockerd", "docker", "nsenter", "runc", "ping", "tar", "python3"] where (try? sh("sh", "-c", "command -v \(tool)")) == nil {
            throw ValidationError("\(tool) is missing; scripts/setup.sh installs docker.io, busybox-static and python3")
        }
        let lab = try DockerLab(executable: common.executable, gossipPort: NamesBench.gossipPort)
        defer { lab.tearDown() }
        var bench = NamesBench(lab: lab, hosts: hosts, runs: runs, lookups: lookups)
        let results = try bench.measure()
        print(results.summary())
        try common.write(Report(title: "Docker: names across hosts, grapevine against Swarm",
                                command: "names --hosts \(hosts) --runs \(runs) --lookups \(lookups)",
                                body: results.markdown()),
                         as: "DOCKER-NAMES.md")
    }
}

/// `agent-bench names`: the name service (issue 22) against what a Docker user would pick
/// instead, Swarm mode's attachable overlay, on the same dockerds in the same run.
struct NamesBench {
    static let dnsAddress = "169.254.53.53"
    static let stubPort = 5353
    static let network = "gvn-net"
    static let subnet = "10.79.64.0/20"
    /// Below Docker's overlay VNIs (4097 and up), so the two drivers' devices never share one.
    static let vni = 777
    static let swarmNetwork = "gvsw-net"
    static let swarmSubnet = "10.80.0.0/24"
    /// Swarm's VXLAN port, apart from the agent's 4789.
    static let swarmDataPort = 4790
    /// The agents' gossip port: Swarm's own gossip (memberlist) takes 7946 on the same addresses.
    static let gossipPort = 7947

    enum Driver: String, CaseIterable {
        case grapevine, swarm
        var network: String { self == .grapevine ? NamesBench.network : NamesBench.swarmNetwork }
    }

    /// Seconds from the start of `docker run` of one round.
    struct Round {
        var driver: Driver
        var host: Int
        var runReturned: Double
        /// By name from the same host's resident: dockerd's own answer, no gossip.
        var sameHostByName: Double
        var everyOtherByName: Double
        var everyOtherByAddress: Double
        var pingStarts: Int
    }

    struct Results {
        var hosts: Int
        var runs: Int
        var lookups: Int
        var versions = ""
        var conditions = ""
        var rounds: [Round] = []
        /// Seconds per lookup, per driver: a name on another host, and one on the asker's host.
        var remoteLookups: [Driver: [Double]] = [:]
        var localLookups: [Driver: [Double]] = [:]
    }

    let lab: DockerLab
    let hosts: Int
    let runs: Int
    let lookups: Int

    mutating func measure() throws -> Results {
        var results = Results(hosts: hosts, runs: runs, lookups: lookups)
        let load = { (ProcFile.read("/proc/loadavg").map { String(decoding: $0, as: UTF8.self) } ?? "?").split(separator: " ").prefix(3).joined(separator: " ") }
        results.conditions = "load average \(load()) at the start"
        print("names: \(hosts) host namespaces, an agent, a stub resolver and a dockerd in each")
        try lab.buildUnderlay(hosts: hosts)
        try lab.holdPluginSpec()
        lab.dockerds.daemonDNS = [Self.dnsAddress]
        let stub = lab.path("stub-resolver.py")
        try StubResolver.script.write(toFile: stub, atomically: true, encoding: .utf8)
        for host in 1...hosts {
            _ = try lab.launchTracked(["ip", "netns", "exec", lab.namespace(host), "python3", stub, "\(Self.stubPort)"])
            try lab.startAgent(host, extra: ["--dns-address", Self.dnsAddress, "--dns-upstream", "127.0.0.1:\(Self.stubPort)",
                                             "--docker-daemon-config", lab.dockerds.configFile(host)])
            try lab.startDocker(host)
        }
        results.versions = lab.versions()
        try startSwarm()
        defer { leaveSwarm() }

        try lab.docker(1, ["network", "create", "-d", "grapevine", "--ipam-driver", "grapevine", "--subnet", Self.subnet,
                           "-o", "vni=\(Self.vni)", Self.network])
        for host in 2...hosts {
            try waitUntil("\(Self.network) appears on h\(host)", timeout: Pinger.cap, interval: 0.02) {
                (try lab.docker(host, ["network", "ls", "--format", "{{.Name}}"])).split(separator: "\n").contains { $0 == Self.network }
            }
        }
        var residents: [Driver: [Box]] = [:]
        for driver in Driver.allCases {
            residents[driver] = try lab.startResidents(hosts: hosts, network: driver.network, prefix: "\(driver == .grapevine ? "gvn" : "gvsw")-r")
        }
        // The drivers alternate within each round, first one then the other, so that neither
        // always runs on a machine the other just loaded.
        for round in 1...runs {
            let host = (round - 1) % hosts + 1
            for driver in round % 2 == 1 ? Driver.allCases : Driver.allCases.reversed() {
                let name = "\(driver == .grapevine ? "gvn" : "gvsw")-c\(round)"
                results.rounds.append(try measureRound(name, driver: driver, on: host, residents: residents[driver] ?? []))
            }
        }
        // Lookups from host 2's resident: host 1's resident (another host) and host 2's last
        // round container (the same host), as dockerd's resolver in the container answers them.
        for driver in Driver.allCases {
            guard let asker = residents[driver]?[1], let remote = residents[driver]?[0] else { continue }
            let local = "\(driver == .grapevine ? "gvn" : "gvsw")-c\(((runs - 2) / hosts) * hosts + 2)"
            results.remoteLookups[driver] = try lookup(remote.name, from: asker)
            results.localLookups[driver] = try lookup(runs >= 2 ? local : asker.name, from: asker)
        }
        results.conditions += ", \(load()) at the end"
        return results
    }

    // MARK: Swarm

    /// Host 1 a manager, the others workers, and an attachable overlay network: what a Docker
    /// user runs today for names across hosts.
    private func startSwarm() throws {
        let started = now()
        try lab.docker(1, ["swarm", "init", "--advertise-addr", DockerLab.underlay(1), "--listen-addr", "\(DockerLab.underlay(1)):2377",
                           "--data-path-port", "\(Self.swarmDataPort)"])
        let token = try lab.docker(1, ["swarm", "join-token", "-q", "worker"]).trimmingCharacters(in: .whitespacesAndNewlines)
        for host in 2...hosts {
            try lab.docker(host, ["swarm", "join", "--token", token, "--advertise-addr", DockerLab.underlay(host),
                                  "--listen-addr", "\(DockerLab.underlay(host)):2377", "\(DockerLab.underlay(1)):2377"])
        }
        try lab.docker(1, ["network", "create", "-d", "overlay", "--attachable", "--subnet", Self.swarmSubnet, Self.swarmNetwork])
        print(String(format: "swarm of %ld nodes and %@ made in %.1f s", hosts, Self.swarmNetwork, now() - started))
    }

    /// Workers first, then the manager; before the lab removes the containers and stops dockerd.
    private func leaveSwarm() {
        for host in (1...hosts).reversed() { _ = try? lab.docker(host, ["swarm", "leave", "--force"], timeout: 60) }
    }

    // MARK: docker run → answers by name

    private func measureRound(_ name: String, driver: Driver, on host: Int, residents: [Box]) throws -> Round {
        let others = residents.filter { $0.host != host }
        let base = ["docker", "-H", "unix://\(lab.dockerSocket(host))"]
        let start = now()
        let dockerRun = try lab.launchTracked(base + ["run", "-d", "--network", driver.network, "--name", name, DockerLab.image, "sleep", "100000"],
                                              output: Pipe())
        var returned: Double?
        var inspecting: Process?
        var byName: [Pinger] = []
        var byAddress: [Pinger] = []
        var diagnosed = false
        while returned == nil || inspecting != nil || byAddress.isEmpty || (byName + byAddress).contains(where: { $0.done == nil }) {
            let t = now() - start
            guard t < Pinger.cap else {
                for p in byName + byAddress where p.process.isRunning { kill(p.process.processIdentifier, SIGKILL) }
                throw BenchError("\(driver) \(name) on h\(host) not answering everywhere after \(Int(Pinger.cap)) s "
                                 + "(run returned: \(returned != nil), by name: \(byName.map { $0.done != nil }), by address: \(byAddress.map { $0.done != nil }))")
            }
            if returned == nil && !dockerRun.isRunning {
                returned = t
                guard dockerRun.terminationStatus == 0 else { throw BenchError("\(name): docker run failed: \(stderr(of: dockerRun))") }
                // The name is asked for once the container exists: the same host's resident first
                // (the baseline, dockerd's own records), then every other host's.
                for resident in [residents[host - 1]] + others {
                    byName.append(try Pinger.start(resident, name, byName: true, lab: lab))
                }
                inspecting = try lab.launchTracked(base + ["inspect", "-f", DockerLab.inspectFormat(driver.network), name], output: Pipe())
            }
            if let process = inspecting, !process.isRunning {
                inspecting = nil
                guard process.terminationStatus == 0 else { throw BenchError("\(name): docker inspect failed: \(stderr(of: process))") }
                let box = try lab.parseBox(stdout(of: process), host: host, name: name)
                for resident in others { byAddress.append(try Pinger.start(resident, box.ip, lab: lab)) }
            }
            if !diagnosed, t - (returned ?? t) > Self.slow, let waiting = byName.first(where: { $0.done == nil }) {
                diagnosed = true
                diagnose(name, driver: driver, from: waiting.from)
            }
            for i in byName.indices { _ = try byName[i].poll(at: now() - start, lab: lab) }
            for i in byAddress.indices { _ = try byAddress[i].poll(at: now() - start, lab: lab) }
            pause(seconds: Pinger.step)
        }
        guard let returned else { throw BenchError("\(name): incomplete") }
        let round = Round(driver: driver, host: host, runReturned: returned, sameHostByName: byName[0].done ?? 0,
                          everyOtherByName: byName.dropFirst().compactMap(\.done).max() ?? 0,
                          everyOtherByAddress: byAddress.compactMap(\.done).max() ?? 0,
                          pingStarts: (byName + byAddress).map(\.starts).reduce(0, +))
        print(String(format: "%@ h%ld %@: run returned %.0f ms; by name same host %.0f ms, every other host %.0f ms; by address %.0f ms (%ld ping processes)",
                     driver.rawValue, host, name, returned * 1000, round.sameHostByName * 1000, round.everyOtherByName * 1000,
                     round.everyOtherByAddress * 1000, round.pingStarts))
        return round
    }

    /// A name still not answering this long after `docker run` returned gets its state printed.
    static let slow = 2.0

    /// What the asker's side says about a name that does not answer: its agent's table of
    /// names, a lookup from the asker's container, and its agent's DNS counters.
    private func diagnose(_ name: String, driver: Driver, from resident: Box) {
        print("\(driver) \(name): not answering from \(resident.name) \(Self.slow) s after docker run returned")
        let lookup = (try? run(["nsenter", "--target", "\(resident.pid)", "--net", "--mount", "nslookup", name], timeout: 20)) ?? "nslookup failed"
        print("  nslookup from \(resident.name): \(lookup.split(separator: "\n").joined(separator: " | "))")
        guard driver == .grapevine else { return }
        let listed = (try? run([lab.executable, "dns", Self.network, "--socket", lab.agentSocket(resident.host)], timeout: 10)) ?? "?"
        print("  h\(resident.host)'s agent lists \(name): \(listed.contains(name))")
        let metrics = (try? run(["curl", "-s", "--unix-socket", lab.agentSocket(resident.host), "http://agent/metrics"], timeout: 10)) ?? ""
        print("  " + metrics.split(separator: "\n").filter { $0.hasPrefix("grapevine_dns") }.joined(separator: "\n  "))
    }

    // MARK: Lookups

    /// Sends `lookups` A queries for `name`, one after the other, to dockerd's resolver
    /// (127.0.0.11) from `asker`'s network namespace; each must be answered with an address.
    private func lookup(_ name: String, from asker: Box) throws -> [Double] {
        let script = lab.path("lookup.py")
        if !FileManager.default.fileExists(atPath: script) { try Self.lookupScript.write(toFile: script, atomically: true, encoding: .utf8) }
        let output = try run(["nsenter", "--target", "\(asker.pid)", "--net", "python3", script, name, "\(lookups)"], timeout: 300)
        let seconds = output.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard seconds.count == lookups else { throw BenchError("lookup of \(name) from \(asker.name): \(output.prefix(300))") }
        let summary = Summary(seconds)
        print(String(format: "lookup %@ from %@: median %.2f ms, p99 %.2f ms", name, asker.name,
                     (summary?.median ?? 0) * 1000, (summary?.p99 ?? 0) * 1000))
        return seconds
    }

    /// The client: one UDP socket, each query sent once the previous answer arrived, its time
    /// from `send` to the matching answer (`perf_counter`); exits non-zero on a timeout (2 s),
    /// an error code or an empty answer.
    static let lookupScript = """
    import socket, struct, sys, time
    name, count = sys.argv[1], int(sys.argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect(("127.0.0.11", 53))
    q = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\\0\\0\\1\\0\\1"
    out = []
    for i in range(count):
        m = struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + q
        t = time.perf_counter()
        s.send(m)
        while True:
            try:
                r = s.recv(4096)
            except socket.timeout:
                print("timeout on query", i); sys.exit(1)
            if r[:2] == m[:2]:
                break
        out.append(time.perf_counter() - t)
        if r[3] & 15 != 0 or struct.unpack(">H", r[6:8])[0] == 0:
            print("query", i, "rcode", r[3] & 15, "answers", struct.unpack(">H", r[6:8])[0]); sys.exit(1)
    print(" ".join("%.6f" % x for x in out))
    """
}
