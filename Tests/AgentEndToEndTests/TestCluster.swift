import Foundation
import GrapevineTestSupport
import Testing

/// Host namespaces on one switch, each with a real `grapevine agent` process, and container
/// namespaces wired into the hosts' bridges, all made by the test and all removed by it.
///
/// Underlay: host `i` (1-based) is 10.77.0.i/24 on a bridge in the switch namespace; gossip
/// binds there on port 7946, VXLAN uses port 4789. Containers are 10.10.<vni % 256>.x/24 with
/// MTU 1450 (the VXLAN devices' MTU over a 1500-byte underlay).
final class TestCluster: @unchecked Sendable {
    struct Container: Hashable {
        var host: Int
        var namespace: String
        var network: String
        var vni: Int
        var mac: String
        var ip: String
    }

    let switchNamespace: String
    let hosts: [String]
    let directory: URL
    let keyFile: String
    /// Extra agent options per host (1-based index), such as its networks.
    var networks: [Int: [String]]
    private var agents: [Int: Process] = [:]
    /// The extra arguments each host's agent was last started with (a restart keeps them).
    private var extras: [Int: [String]] = [:]
    private let lock = NSLock()
    private(set) var containers: [Container] = []
    private var containerNamespaces: [String] = []
    private var nextContainer = 1
    private var renumbered: Set<Int> = []
    private var dockerHosts: DockerHosts?

    static var executable: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("grapevine").path
    }

    /// Makes the namespaces and the underlay, runs `body`, then stops every dockerd and agent by
    /// PID and deletes every namespace and file, also when `body` throws. With `agents: false`
    /// no key is made, so the `grapevine` executable need not be built (harness-only tests).
    static func with<T>(hosts count: Int, networks: [Int: [String]], agents: Bool = true,
                        _ body: (TestCluster) async throws -> T) async throws -> T {
        try await withNamespaces(["sw"] + (1...count).map { "h\($0)" }) { names in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gv-e2e-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let cluster = TestCluster(switchNamespace: names[0], hosts: Array(names.dropFirst()), directory: directory,
                                      networks: networks)
            defer { cluster.tearDown() }
            try cluster.buildUnderlay()
            if agents { try sh(executable, "keygen", "--output", cluster.keyFile) }
            return try await body(cluster)
        }
    }

    private init(switchNamespace: String, hosts: [String], directory: URL, networks: [Int: [String]]) {
        self.switchNamespace = switchNamespace
        self.hosts = hosts
        self.directory = directory
        self.keyFile = directory.appendingPathComponent("key").path
        self.networks = networks
    }

    private func buildUnderlay() throws {
        try sh("ip", "-n", switchNamespace, "link", "add", "br0", "type", "bridge")
        try sh("ip", "-n", switchNamespace, "link", "set", "br0", "up")
        for (i, ns) in hosts.enumerated() {
            try sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", "p\(i + 1)", "netns", switchNamespace)
            try sh("ip", "-n", switchNamespace, "link", "set", "p\(i + 1)", "master", "br0", "up")
            try sh("ip", "-n", ns, "addr", "add", "\(underlay(i + 1))/24", "dev", "eth0")
            try sh("ip", "-n", ns, "link", "set", "eth0", "up")
            try sh("ip", "-n", ns, "link", "set", "lo", "up")
        }
    }

    /// Host `host`'s underlay address: 10.77.0.`host`, or 10.77.0.`100 + host` once renumbered.
    func underlay(_ host: Int) -> String { lock.withLock { renumbered.contains(host) } ? "10.77.0.\(100 + host)" : "10.77.0.\(host)" }

    /// Moves host `host`'s underlay to 10.77.0.`100 + host` (a DHCP renumbering: the old
    /// address removed, the new one added). Agents started afterwards bind the new address.
    func renumber(_ host: Int) throws {
        let old = underlay(host)
        lock.withLock { _ = renumbered.insert(host) }
        // Old first: deleting a subnet's primary address also deletes its secondaries.
        try sh("ip", "-n", namespace(host), "addr", "del", "\(old)/24", "dev", "eth0")
        try sh("ip", "-n", namespace(host), "addr", "add", "\(underlay(host))/24", "dev", "eth0")
    }

    /// Sets the underlay MTU of `hosts` (both ends of each host's link to the switch; the
    /// switch's bridge follows its smallest port).
    func setUnderlayMTU(_ mtu: Int, hosts: [Int]) throws {
        for host in hosts {
            try sh("ip", "-n", switchNamespace, "link", "set", "p\(host)", "mtu", "\(mtu)")
            try sh("ip", "-n", namespace(host), "link", "set", "eth0", "mtu", "\(mtu)")
        }
    }
    func namespace(_ host: Int) -> String { hosts[host - 1] }
    func socket(_ host: Int) -> String { directory.appendingPathComponent("h\(host).sock").path }
    func dataDir(_ host: Int) -> String { directory.appendingPathComponent("h\(host)").path }
    func log(_ host: Int) -> String { directory.appendingPathComponent("h\(host).log").path }

    /// Starts host `host`'s agent (joining host 1 unless it is host 1) and waits until its API
    /// answers. Runs on a thread of its own: nothing here waits for Swift's concurrency pool,
    /// which the simulations running beside these tests can keep busy for minutes.
    func startAgent(_ host: Int, extra: [String] = []) async throws {
        try await onOwnThread { try self.startAgentBlocking(host, extra: extra) }
    }

    /// Stops host `host`'s agent with SIGTERM and starts it again, on one thread, so that the
    /// time it is down is the agent's restart time and nothing else.
    func restartAgent(_ host: Int) async throws -> Duration {
        try await onOwnThread {
            let clock = ContinuousClock()
            let down = clock.now
            self.stopAgentBlocking(host, signal: SIGTERM)
            try self.startAgentBlocking(host, extra: self.lock.withLock { self.extras[host] ?? [] })
            return clock.now - down
        }
    }

    private func startAgentBlocking(_ host: Int, extra: [String]) throws {
        lock.withLock { extras[host] = extra }
        var arguments = ["ip", "netns", "exec", namespace(host), Self.executable, "agent",
                         "--name", "h\(host)", "--bind", "\(underlay(host)):7946", "--key-file", keyFile,
                         "--data-dir", dataDir(host), "--api-socket", socket(host), "--log-level", "info",
                         "--reconcile-interval", "5", "--startup-grace", "2"]
        if host != 1 { arguments += ["--join", "\(underlay(1)):7946"] }
        for n in networks[host] ?? [] { arguments += ["--network", n] }
        arguments += extra
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        _ = FileManager.default.createFile(atPath: log(host), contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log(host)))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        lock.withLock { agents[host] = process }
        try waitBlocking("agent h\(host) answers on its socket", timeout: 60) {
            guard process.isRunning else {
                throw AgentExited(host: host, log: (try? String(contentsOfFile: self.log(host), encoding: .utf8)) ?? "")
            }
            return (try? run([Self.executable, "info", "--socket", self.socket(host)])) != nil
        }
    }

    /// Sends `signal` to host `host`'s agent and waits for it to exit.
    func stopAgent(_ host: Int, signal: Int32 = SIGTERM) async {
        _ = try? await onOwnThread { self.stopAgentBlocking(host, signal: signal) }
    }

    private func stopAgentBlocking(_ host: Int, signal: Int32) {
        guard let process = lock.withLock({ agents.removeValue(forKey: host) }) else { return }
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
    }

    /// Runs `grapevine --socket … ARGS` against host `host`'s agent; stdout, or throws with
    /// stderr and the exit status.
    @discardableResult
    func cli(_ host: Int, _ arguments: String...) async throws -> String {
        let command = [Self.executable] + arguments + ["--socket", socket(host)]
        return try await onOwnThread { try run(command) }
    }

    /// A container namespace on `host` in `network` (`NAME:VNI`), wired into its bridge, with
    /// `mac` and `ip`; registered with the agent unless `register` is false. With `ipv6: false`
    /// the container sends nothing unasked (no IPv6 duplicate address detection or MLD), so the
    /// bridge learns nothing from it until it answers.
    @discardableResult
    func addContainer(host: Int, network: String, vni: Int, mac: String, ip: String, register: Bool = true,
                      ipv6: Bool = true, mtu: Int = 1450) async throws -> Container {
        let serial = nextContainer
        nextContainer += 1
        let ns = "\(namespace(host))-c\(serial)"
        try sh("ip", "netns", "add", ns)
        containerNamespaces.append(ns)
        let port = "c\(serial)"
        try sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", namespace(host))
        if !ipv6 { try sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1") }
        try sh("ip", "-n", namespace(host), "link", "set", port, "master", "gvbr\(vni)", "mtu", "\(mtu)", "up")
        try sh("ip", "-n", ns, "link", "set", "eth0", "address", mac, "mtu", "\(mtu)", "up")
        try sh("ip", "-n", ns, "addr", "add", "\(ip)/24", "dev", "eth0")
        try sh("ip", "-n", ns, "link", "set", "lo", "up")
        let c = Container(host: host, namespace: ns, network: network, vni: vni, mac: mac, ip: ip)
        containers.append(c)
        if register { try await cli(host, "endpoint", "add", "--network", network, "--mac", mac, "--ip", ip, "--name", ns) }
        return c
    }

    func ping(from a: Container, to b: Container, count: Int = 1) async -> Bool {
        let command = ["ip", "netns", "exec", a.namespace, "ping", "-c", "\(count)", "-W", "1", b.ip]
        return (try? await onOwnThread { try run(command) }) != nil
    }

    /// The rows the kernel of `host` holds on the VXLAN device of `vni`, as `bridge` and `ip`
    /// print them: flood VTEPs, unicast MAC → VTEP, neighbour IP → MAC.
    func kernelRows(_ host: Int, vni: Int) async throws -> Rows {
        try await onOwnThread { try self.kernelRowsBlocking(host, vni: vni) }
    }

    private func kernelRowsBlocking(_ host: Int, vni: Int) throws -> Rows {
        var rows = Rows()
        let fdb = try JSONSerialization.jsonObject(with: Data(try sh("ip", "netns", "exec", namespace(host), "bridge", "-j", "fdb", "show", "dev", "gvx\(vni)").utf8)) as? [[String: Any]] ?? []
        for entry in fdb {
            guard let mac = entry["mac"] as? String, let dst = entry["dst"] as? String else { continue }
            if mac == "00:00:00:00:00:00" { rows.flood.insert(dst) } else { rows.unicast[mac] = dst }
        }
        let neigh = try JSONSerialization.jsonObject(with: Data(try sh("ip", "-n", namespace(host), "-j", "neigh", "show", "dev", "gvx\(vni)").utf8)) as? [[String: Any]] ?? []
        for entry in neigh {
            guard let ip = entry["dst"] as? String, let mac = entry["lladdr"] as? String else { continue }
            rows.neighbors[ip] = mac
        }
        return rows
    }

    /// What `host`'s device of `vni` must hold given the live hosts' containers (the oracle):
    /// every other live host in the network floods, and their containers have rows.
    func expectedRows(_ host: Int, vni: Int, live: Set<Int>, members: [Int]) -> Rows {
        var rows = Rows()
        for other in members where other != host && live.contains(other) { rows.flood.insert(underlay(other)) }
        for c in containers where c.vni == vni && c.host != host && live.contains(c.host) {
            rows.unicast[c.mac] = underlay(c.host)
            rows.neighbors[c.ip] = c.mac
        }
        return rows
    }

    /// The hosts' dockerds (DockerHosts.swift), made on first use; stopped at teardown before
    /// the agents, so that dockerd's last calls still find the plugin.
    var docker: DockerHosts {
        lock.withLock {
            if let dockerHosts { return dockerHosts }
            let made = DockerHosts(cluster: self)
            dockerHosts = made
            return made
        }
    }

    private func tearDown() {
        lock.withLock { dockerHosts }?.tearDown()
        for host in lock.withLock({ agents.keys.sorted() }) { stopAgentBlocking(host, signal: SIGKILL) }
        for ns in containerNamespaces.reversed() { _ = try? sh("ip", "netns", "del", ns) }
        try? FileManager.default.removeItem(at: directory)
    }

    struct Rows: Equatable, CustomStringConvertible {
        var flood: Set<String> = []
        var unicast: [String: String] = [:]
        var neighbors: [String: String] = [:]
        var description: String {
            "flood \(flood.sorted()) unicast \(unicast.sorted { $0.key < $1.key }) neigh \(neighbors.sorted { $0.key < $1.key })"
        }
    }
}

struct AgentExited: Error, CustomStringConvertible {
    var host: Int
    var log: String
    var description: String { "agent h\(host) exited:\n\(log.suffix(4000))" }
}

/// Polls `condition` every 50 ms until it holds; throws `TimedOut` once `timeout` seconds have
/// passed and a last check still fails (a test stalled by a busy machine is judged on the state
/// it finds, not on the clock). The bound is for a hung test, not a measurement.
@discardableResult
func waitUntil(_ what: String, timeout: Double, _ condition: () async throws -> Bool) async throws -> Duration {
    let clock = ContinuousClock()
    let start = clock.now
    while true {
        if try await condition() { return clock.now - start }
        if clock.now - start > .seconds(timeout) { throw TimedOut(what: what) }
        try await Task.sleep(for: .milliseconds(50))
    }
}
