import GrapevineTestSupport
import Addresses
import Foundation

/// A container as dockerd reports it.
struct Box {
    var host: Int
    var name: String
    var pid: Int32
    var ip: String
    var mac: String
}

/// A ping from a container's network namespace, every 10 ms until the first reply, started
/// again by its owner when it gives up (ARP failures while the rows are on their way, or a name
/// not resolvable yet). By name, it also enters the container's mount namespace, so that
/// busybox resolves through the container's `/etc/resolv.conf` (dockerd's resolver, 127.0.0.11).
struct Pinger {
    var from: Box
    var target: String
    var byName: Bool
    var process: Process
    var starts = 1
    var done: Double?

    /// The polling step and the cap of one round, in seconds.
    static let step = 0.01
    static let cap = 60.0

    static func start(_ from: Box, _ target: String, byName: Bool = false, lab: DockerLab) throws -> Pinger {
        Pinger(from: from, target: target, byName: byName, process: try lab.launchTracked(command(from, target, byName: byName)))
    }

    static func command(_ from: Box, _ target: String, byName: Bool) -> [String] {
        ["nsenter", "--target", "\(from.pid)", "--net"] + (byName ? ["--mount"] : [])
            + ["ping", "-q", "-c", "1", "-i", "0.01", "-w", "\(Int(cap))", target]
    }

    /// Notes a reply at `at`, or starts the ping again when it gave up; true once answered.
    mutating func poll(at: Double, lab: DockerLab) throws -> Bool {
        guard done == nil else { return true }
        guard !process.isRunning else { return false }
        if process.terminationStatus == 0 {
            done = at
            return true
        }
        process = try lab.launchTracked(Self.command(from, target, byName: byName))
        starts += 1
        return false
    }
}

extension DockerLab {
    /// `docker run -d --network NETWORK --name NAME` of a sleeping busybox on `host`, inspected.
    func runBox(_ host: Int, _ name: String, network: String) throws -> Box {
        try docker(host, ["run", "-d", "--network", network, "--name", name, Self.image, "sleep", "100000"])
        return try inspect(host, name, network: network)
    }

    func inspect(_ host: Int, _ name: String, network: String) throws -> Box {
        try parseBox(docker(host, ["inspect", "-f", Self.inspectFormat(network), name]), host: host, name: name)
    }

    static func inspectFormat(_ network: String) -> String {
        "{{.State.Pid}} {{(index .NetworkSettings.Networks \"\(network)\").IPAddress}} {{(index .NetworkSettings.Networks \"\(network)\").MacAddress}}"
    }

    func parseBox(_ text: String, host: Int, name: String) throws -> Box {
        let fields = text.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard fields.count == 3, let pid = Int32(fields[0]), pid > 0, IPAddress(fields[1]) != nil else {
            throw BenchError("docker inspect \(name) on h\(host): \(text)")
        }
        return Box(host: host, name: name, pid: pid, ip: fields[1], mac: fields[2])
    }

    /// One long-lived container per host on `network`, named `PREFIX<host>`: the pingers. Their
    /// ARP retransmits every 10 ms (as in `propagation`) so that a ping sent before the rows
    /// arrive is not held back by the 1 s timer. Returns once each reaches every other by address.
    func startResidents(hosts: Int, network: String, prefix: String) throws -> [Box] {
        var residents: [Box] = []
        for host in 1...hosts {
            let box = try runBox(host, "\(prefix)\(host)", network: network)
            try run(["nsenter", "--net=/proc/\(box.pid)/ns/net", "sh", "-c",
                     "for f in /proc/sys/net/ipv4/neigh/*/retrans_time_ms; do echo 10 > $f; done"], timeout: 10)
            residents.append(box)
        }
        for a in residents {
            for b in residents where a.host != b.host {
                try waitUntil("\(a.name) reaches \(b.name)", timeout: Pinger.cap, interval: 0.1) {
                    (try? run(["nsenter", "--net=/proc/\(a.pid)/ns/net", "ping", "-c", "1", "-W", "1", b.ip], timeout: 5)) != nil
                }
            }
        }
        print("residents \(residents.map { "\($0.name) \($0.ip)" }.joined(separator: ", ")) reach each other")
        return residents
    }

    /// Starts `arguments` with its output in a pipe (`stdout(of:)`, `stderr(of:)`), kept for `tearDown`.
    func launchTracked(_ arguments: [String], output: Any = FileHandle.nullDevice) throws -> Process {
        let process = try launch(arguments, output: output)
        try track(process)
        return process
    }
}

func stdout(of process: Process) -> String {
    String(decoding: (process.standardOutput as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data(), as: UTF8.self)
}

func stderr(of process: Process) -> String {
    String(decoding: (process.standardError as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data(), as: UTF8.self)
}
