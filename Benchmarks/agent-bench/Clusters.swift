import GrapevineTestSupport
import Addresses
import Foundation
import Netlink

/// A real `grapevine agent` in each host namespace: encrypted, one network `blue` (VNI 100,
/// devices gvx100 and gvbr100), gossip on 10.77.0.i:7946, every host joining host 1.
final class GrapevineCluster {
    static let network = "blue"
    static let vni = 100
    let lab: Lab
    let underlay: Underlay
    let executable: String
    private(set) var agents: [Int: Process] = [:]
    private var tables: [Int: (table: VXLANTable, device: Int32)] = [:]

    init(lab: Lab, underlay: Underlay, executable: String) throws {
        self.lab = lab
        self.underlay = underlay
        self.executable = executable
        try sh(executable, "keygen", "--output", lab.path("grapevine.key"))
    }

    var count: Int { underlay.hosts.count }
    func socket(_ host: Int) -> String { lab.path("h\(host).sock") }

    /// Starts every agent, one after the other, each once its API answers.
    func start() throws {
        for host in 1...count {
            var arguments = ["ip", "netns", "exec", underlay.namespace(host), executable, "agent",
                             "--name", "h\(host)", "--bind", "\(Underlay.address(host)):7946",
                             "--key-file", lab.path("grapevine.key"), "--data-dir", lab.path("h\(host)"),
                             "--api-socket", socket(host), "--log-level", "notice",
                             "--network", "\(Self.network):\(Self.vni)"]
            if host != 1 { arguments += ["--join", "\(Underlay.address(1)):7946"] }
            let process = try lab.start(arguments, log: "grapevine-h\(host).log")
            agents[host] = process
            try waitUntil("grapevine agent h\(host) answers", timeout: 60) {
                guard process.isRunning else { throw BenchError("grapevine agent h\(host) exited; log in \(lab.path("grapevine-h\(host).log"))") }
                return (try? cli(host, "info")) != nil
            }
        }
    }

    /// Starts the agents, registers one container per host (so that every host floods to every
    /// other) and waits until every kernel holds all their rows.
    @discardableResult
    func startWithResidents() throws -> [Container] {
        print("grapevine: starting \(count) agents")
        try start()
        var resident: [Container] = []
        for host in 1...count {
            let c = try Container.make(lab: lab, underlay: underlay, host: host, serial: 0,
                                       mac: String(format: "02:00:00:00:%02lx:01", host), ip: "10.10.100.\(host)")
            try cli(host, "endpoint", "add", "--network", Self.network, "--mac", c.mac, "--ip", c.ip)
            resident.append(c)
        }
        try waitUntil("every kernel holds every resident container's rows", timeout: 120, interval: 0.2) {
            try converged(resident)
        }
        return resident
    }

    func stop() {
        for process in agents.values { lab.stop(process) }
        agents = [:]
        tables = [:]
    }

    @discardableResult
    func cli(_ host: Int, _ arguments: String...) throws -> String {
        try run([executable] + arguments + ["--socket", socket(host)])
    }

    /// `grapevine endpoint add` for a container, started and not waited for.
    func launchEndpointAdd(_ c: Container) throws -> Process {
        try launch([executable, "endpoint", "add", "--socket", socket(c.host), "--network", Self.network,
                    "--mac", c.mac, "--ip", c.ip, "--name", c.namespace], output: Pipe())
    }

    /// Host `host`'s VXLAN table, with its device's index (the agent creates the device).
    func table(_ host: Int) throws -> (table: VXLANTable, device: Int32) {
        if let known = tables[host] { return known }
        let ns = NetworkNamespace.named(underlay.namespace(host))
        guard let device = try LinkSocket(namespace: ns).link(named: "gvx\(Self.vni)")?.ifindex else {
            throw BenchError("no gvx\(Self.vni) in \(underlay.namespace(host))")
        }
        let entry = try (table: VXLANTable(namespace: ns), device: device)
        tables[host] = entry
        return entry
    }

    /// Whether host `host`'s kernel holds the unicast row and the neighbour row of `c`.
    func holdsRows(_ host: Int, of c: Container) throws -> Bool {
        let (table, device) = try table(host)
        let vtep = IPAddress(Underlay.address(c.host))
        guard let mac = MACAddress(c.mac), let ip = IPAddress(c.ip) else { throw BenchError("bad container \(c)") }
        guard try table.fdbRows(device: device).contains(where: { $0.mac == mac && $0.destination == vtep }) else { return false }
        return try table.neighborRows(device: device).contains { $0.ip == ip && $0.mac == mac }
    }

    /// Whether every host's kernel holds a flood row for every other host and the rows of every
    /// container on the other hosts.
    func converged(_ containers: [Container]) throws -> Bool {
        for host in 1...count {
            let (table, device) = try table(host)
            let floods = try table.fdbRows(device: device).filter { $0.mac.isZero }.count
            guard floods == count - 1 else { return false }
            for c in containers where c.host != host {
                guard try holdsRows(host, of: c) else { return false }
            }
        }
        return true
    }
}

/// A "container": a namespace with a veth into its host's bridge gvbr100, MTU 1450.
struct Container: CustomStringConvertible {
    var host: Int
    var namespace: String
    var mac: String
    var ip: String
    var description: String { "\(namespace) \(mac) \(ip)" }

    /// Makes the namespace and wires it. ARP retransmits every 10 ms rather than 1 s, so that a
    /// ping started before the neighbour row exists is not held back by the ARP timer.
    static func make(lab: Lab, underlay: Underlay, host: Int, serial: Int, mac: String, ip: String) throws -> Container {
        let ns = try lab.addNamespace("h\(host)-c\(serial)")
        let port = "c\(serial)"
        try sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", underlay.namespace(host))
        try sh("ip", "-n", underlay.namespace(host), "link", "set", port, "master", "gvbr\(GrapevineCluster.vni)", "mtu", "1450", "up")
        try sh("ip", "-n", ns, "link", "set", "eth0", "address", mac, "mtu", "1450", "up")
        try sh("ip", "-n", ns, "addr", "add", "\(ip)/24", "dev", "eth0")
        try sh("ip", "-n", ns, "link", "set", "lo", "up")
        try sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.neigh.eth0.retrans_time_ms=10")
        return Container(host: host, namespace: ns, mac: mac, ip: ip)
    }
}

/// Debian's `serf agent` in each host namespace: encrypted (a 32-byte key), gossip on
/// 10.77.0.i:7946 (the same scheme as the agents), RPC on 127.0.0.1:7373 inside the namespace,
/// every host joining host 1. A user event `bench` runs a handler that creates the file
/// `serf-<node>.<payload>` in the scratch directory.
final class SerfCluster {
    let lab: Lab
    let underlay: Underlay
    private(set) var agents: [Int: Process] = [:]
    let key: String

    init(lab: Lab, underlay: Underlay) throws {
        self.lab = lab
        self.underlay = underlay
        key = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let handler = lab.path("serf-handler.sh")
        try """
        #!/bin/sh
        read -r round
        : > "\(lab.directory)/serf-$SERF_SELF_NAME.$round"

        """.write(toFile: handler, atomically: true, encoding: .utf8)
        chmod(handler, 0o755)
    }

    var count: Int { underlay.hosts.count }

    func start() throws {
        for host in 1...count {
            var arguments = ["ip", "netns", "exec", underlay.namespace(host), "serf", "agent",
                             "-node", "h\(host)", "-bind", "\(Underlay.address(host)):7946",
                             "-rpc-addr", "127.0.0.1:7373", "-encrypt", key, "-log-level", "warn",
                             "-event-handler", "user:bench=\(lab.path("serf-handler.sh"))"]
            if host != 1 { arguments += ["-join", "\(Underlay.address(1)):7946"] }
            let process = try lab.start(arguments, log: "serf-h\(host).log")
            agents[host] = process
            try waitUntil("serf agent h\(host) answers", timeout: 60) {
                guard process.isRunning else { throw BenchError("serf agent h\(host) exited; log in \(lab.path("serf-h\(host).log"))") }
                return (try? rpc(host, "members")) != nil
            }
        }
    }

    func stop() {
        for process in agents.values { lab.stop(process) }
        agents = [:]
    }

    @discardableResult
    func rpc(_ host: Int, _ arguments: String...) throws -> String {
        let command = ["ip", "netns", "exec", underlay.namespace(host), "serf"] + [arguments[0], "-rpc-addr", "127.0.0.1:7373"]
            + arguments.dropFirst()
        return try run(command)
    }

    /// Whether every agent sees every member alive.
    func converged() throws -> Bool {
        for host in 1...count {
            let alive = try rpc(host, "members", "-status", "alive").split(separator: "\n").count
            guard alive == count else { return false }
        }
        return true
    }

    func handlerRan(_ host: Int, round: Int) -> Bool {
        FileManager.default.fileExists(atPath: lab.path("serf-h\(host).\(round)"))
    }
}
