import Foundation
import GrapevineTestSupport
import Testing

/// Names across hosts (issue 22): real dockerds in 3 host namespaces, each set up once with
/// `"dns": ["169.254.53.53"]` in its daemon.json, agents serving names there, busybox
/// containers resolving through dockerd's embedded resolver.
@Suite(.serialized, KernelTestGate.trait)
struct DockerNamesEndToEndTests {
    static let dnsAddress = "169.254.53.53"
    static let stubPort = 5353

    /// Starts the stub in each host namespace; returns the processes (stopped by PID).
    static func startStubs(_ cluster: TestCluster, hosts: ClosedRange<Int>) throws -> [Process] {
        let script = cluster.directory.appendingPathComponent("stub-resolver.py").path
        try StubResolver.script.write(toFile: script, atomically: true, encoding: .utf8)
        return try hosts.map { h in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["ip", "netns", "exec", cluster.namespace(h), "/usr/bin/python3", script, "\(stubPort)"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
    }

    static func start(_ cluster: TestCluster, hosts: ClosedRange<Int>) async throws {
        try DockerHosts.require()
        try cluster.docker.pluginSpec(port: DockerEndToEndTests.plugin)
        cluster.docker.daemonDNS = [dnsAddress]
        for h in hosts {
            try await cluster.startAgent(h, extra: [
                "--docker", "--docker-plugin-socket", "", "--docker-plugin-address", "127.0.0.1:\(DockerEndToEndTests.plugin)",
                "--docker-socket", cluster.docker.socket(h), "--dns-address", dnsAddress,
                "--dns-upstream", "127.0.0.1:\(stubPort)", "--docker-daemon-config", cluster.docker.configFile(h),
            ])
            try await cluster.docker.startDocker(host: h)
        }
    }

    /// `nslookup NAME` inside container `box` on host `host`: the IPv4 addresses answered
    /// (busybox prints the server first, then `Address: IP` lines for the answer).
    static func lookup(_ cluster: TestCluster, _ host: Int, _ box: String, _ name: String) async -> [String] {
        guard let text = try? await cluster.docker.docker(host, "exec", box, "nslookup", "-type=a", name) else { return [] }
        let answer = text.components(separatedBy: "Name:").dropFirst().joined(separator: "\n")
        return answer.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0] == "Address:" else { return nil }
            return String(parts[1])
        }.sorted()
    }

    /// `grapevine_dns_name_conflicts` of host `host`'s agent.
    static func conflicts(_ cluster: TestCluster, _ host: Int) async throws -> Int {
        let text = try await onOwnThread { try run(["curl", "-s", "--unix-socket", cluster.socket(host), "http://agent/metrics"]) }
        let line = text.split(separator: "\n").first { $0.hasPrefix("grapevine_dns_name_conflicts ") }
        return Int(Double(line?.split(separator: " ").last ?? "") ?? -1)
    }

    static func ping(_ cluster: TestCluster, _ host: Int, _ box: String, _ name: String) async -> Bool {
        (try? await cluster.docker.docker(host, "exec", box, "ping", "-c", "1", "-W", "1", name)) != nil
    }

    @Test func containersFindEachOtherByNameOnEveryHost() async throws {
        try await TestCluster.with(hosts: 3, networks: [:]) { cluster in
            let stubs = try Self.startStubs(cluster, hosts: 1...3)
            defer { for p in stubs { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
            try await Self.start(cluster, hosts: 1...3)
            try await DockerEndToEndTests.explained(cluster) {
                try await DockerEndToEndTests.makeNetwork(cluster, on: 1, "blue", subnet: "10.20.0.0/24", seenOn: [2, 3])
                try await DockerEndToEndTests.makeNetwork(cluster, on: 1, "red", subnet: "10.21.0.0/24", options: ["--internal"], seenOn: [2, 3])
                let c0 = try await DockerEndToEndTests.runBox(cluster, 1, "c0", network: "blue")
                let c1 = try await DockerEndToEndTests.runBox(cluster, 2, "c1", network: "blue")
                let a1 = try await DockerEndToEndTests.runBox(cluster, 1, "a1", network: "blue", extra: ["--network-alias", "api"])
                let a2 = try await DockerEndToEndTests.runBox(cluster, 2, "a2", network: "blue", extra: ["--network-alias", "api"])
                _ = try await DockerEndToEndTests.runBox(cluster, 3, "c3", network: "blue")
                let r1 = try await DockerEndToEndTests.runBox(cluster, 1, "r1", network: "red")
                _ = try await DockerEndToEndTests.runBox(cluster, 3, "r3", network: "red")

                // Across hosts, by name and by NAME.NETWORK.
                try await waitUntil("c1 on h2 resolves c0 of h1", timeout: 30) { await Self.lookup(cluster, 2, "c1", "c0") == [c0.ip] }
                #expect(await Self.ping(cluster, 2, "c1", "c0"), "docker exec c1 ping -c1 c0")
                #expect(await Self.ping(cluster, 3, "c3", "c1.blue"), "docker exec c3 ping -c1 c1.blue")
                // An alias held on two hosts, asked from a third: both holders.
                try await waitUntil("c3 resolves the alias api to both holders", timeout: 30) {
                    await Self.lookup(cluster, 3, "c3", "api") == [a1.ip, a2.ip].sorted()
                }
                // `grapevine dns blue` on h3 lists c0 with h1 as its host and both holders of api.
                let listed = try await onOwnThread { try run([TestCluster.executable, "dns", "blue", "--socket", cluster.socket(3)]) }
                let rows = listed.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
                #expect(rows.contains { $0.count >= 6 && $0[1] == "c0" && $0[3] == c0.ip && $0[4] == "h1" }, "\(listed)")
                #expect(rows.filter { $0.count >= 6 && $0[1] == "api" }.count == 2, "\(listed)")

                // --internal: its names resolve across hosts too.
                try await waitUntil("r3 resolves r1 on the internal network", timeout: 30) { await Self.lookup(cluster, 3, "r3", "r1") == [r1.ip] }
                // Isolation: neither network sees the other's names.
                #expect(await Self.lookup(cluster, 3, "c3", "r1").isEmpty)
                #expect(await Self.lookup(cluster, 3, "r3", "c0").isEmpty)
                #expect(await Self.lookup(cluster, 3, "r3", "c0.blue").isEmpty)
                // Outside names go on to the host's resolver.
                #expect(await Self.lookup(cluster, 2, "c1", "outside.test") == ["192.0.2.53"])
                #expect(await Self.lookup(cluster, 3, "r3", "outside.test") == ["192.0.2.53"])

                // The same name on two dockerds: the older container everywhere, and reported.
                let d1 = try await DockerEndToEndTests.runBox(cluster, 1, "dup", network: "blue")
                try await waitUntil("h3 resolves the first dup", timeout: 30) { await Self.lookup(cluster, 3, "c3", "dup") == [d1.ip] }
                _ = try await DockerEndToEndTests.runBox(cluster, 2, "dup", network: "blue")
                try await waitUntil("h3 reports the name held twice", timeout: 30) { try await Self.conflicts(cluster, 3) == 1 }
                #expect(await Self.lookup(cluster, 3, "c3", "dup") == [d1.ip])

                // A removed container stops resolving on the other hosts.
                let removed = ContinuousClock.now
                try await cluster.docker.docker(1, "rm", "-f", "c0")
                let gone2 = try await waitUntil("c0 gone on h2", timeout: 10) { await Self.lookup(cluster, 2, "c1", "c0").isEmpty }
                let gone3 = try await waitUntil("c0 gone on h3", timeout: 10) { await Self.lookup(cluster, 3, "c3", "c0").isEmpty }
                let total = ContinuousClock.now - removed
                print("names: c0 unresolvable on h2 after \(gone2), on h3 \(total) after `docker rm -f` began (gone3 wait \(gone3))")
                #expect(c1.ip != c0.ip)
            }
        }
    }
}
