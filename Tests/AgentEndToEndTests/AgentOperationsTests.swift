import Foundation
import GrapevineTestSupport
import Testing

/// The agent's operator-facing parts, end to end: handler scripts, queries answered by a
/// handler, Prometheus metrics, and a registry that survives SIGKILL at any moment.
@Suite(.serialized, KernelTestGate.trait)
struct AgentOperationsTests {
    @Test func handlersRunOnMembershipAndQueriesAreAnsweredByTheirHandler() async throws {
        try await TestCluster.with(hosts: 2, networks: [1: ["blue:100"], 2: ["blue:100"]]) { cluster in
            let joins = cluster.directory.appendingPathComponent("joins").path
            try await cluster.startAgent(1, extra: ["--handler", "member-join=cat >> \(joins)",
                                                    "--handler", "query:whoami=echo answer-from-$GRAPEVINE_SELF_NAME"])
            try await cluster.startAgent(2, extra: ["--handler", "query:whoami=echo answer-from-$SERF_SELF_NAME"])
            // Serf's stdin for member events: name, address, role, tags, tab-separated.
            try await waitUntil("h1's handler saw h2 join", timeout: 60) {
                ((try? String(contentsOfFile: joins, encoding: .utf8)) ?? "").contains("h2\t10.77.0.2")
            }
            let answers = try await cluster.cli(1, "query", "whoami", "--timeout", "5s", "--format", "json")
            #expect(answers.contains("answer-from-h1"), "\(answers)")
            #expect(answers.contains("answer-from-h2"), "\(answers)")
        }
    }

    @Test func metricsCoverGossipAndTheKernel() async throws {
        try await TestCluster.with(hosts: 2, networks: [1: ["blue:100"], 2: ["blue:100"]]) { cluster in
            for h in 1...2 { try await cluster.startAgent(h) }
            try await cluster.addContainer(host: 2, network: "blue", vni: 100, mac: "02:00:00:00:02:01", ip: "10.10.100.21")
            let expected = cluster.expectedRows(1, vni: 100, live: [1, 2], members: [1, 2])
            try await waitUntil("h1 holds h2's rows", timeout: 60) { try await cluster.kernelRows(1, vni: 100) == expected }
            let text = try run(["curl", "-sS", "--unix-socket", cluster.socket(1), "http://localhost/metrics"])
            for name in ["grapevine_reconcile_runs_total", "grapevine_reconcile_seconds", "grapevine_rows_applied_total",
                         "grapevine_endpoints", "gossip_"] {
                #expect(text.contains(name), "no \(name) in /metrics")
            }
            #expect(text.contains(#"grapevine_rows_applied_total{kind="unicast",network="blue"}"#)
                    || text.contains(#"grapevine_rows_applied_total{network="blue",kind="unicast"}"#), "\(text.prefix(2000))")
        }
    }

    /// SIGKILL while endpoints are being added: every endpoint whose add was acknowledged is
    /// there after the restart, and the registry file parses.
    @Test func aKilledAgentLosesNoAcknowledgedEndpoint() async throws {
        try await TestCluster.with(hosts: 1, networks: [1: ["blue:100"]]) { cluster in
            try await cluster.startAgent(1)
            var acknowledged: [String] = []
            let adder = Task.detached { () -> [String] in
                var done: [String] = []
                for i in 1...200 {
                    let mac = String(format: "02:00:00:01:%02x:%02x", i / 256, i % 256)
                    do {
                        try await cluster.cli(1, "endpoint", "add", "--network", "blue", "--mac", mac)
                        done.append(mac)
                    } catch {
                        break
                    }
                }
                return done
            }
            try await waitUntil("some endpoints were added", timeout: 60) {
                let files = ["/endpoints.json", "/endpoints.log"].map { (try? String(contentsOfFile: cluster.dataDir(1) + $0, encoding: .utf8)) ?? "" }
                return files.joined().components(separatedBy: "\"mac\"").count > 20
            }
            await cluster.stopAgent(1, signal: SIGKILL)
            acknowledged = await adder.value
            let file = try Data(contentsOf: URL(fileURLWithPath: cluster.dataDir(1) + "/endpoints.json"))
            #expect((try? JSONSerialization.jsonObject(with: file)) != nil, "the registry is torn")
            // Every complete line of the log parses; only a line the kill cut short may not.
            let log = try Data(contentsOf: URL(fileURLWithPath: cluster.dataDir(1) + "/endpoints.log"))
            for line in log.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast() {
                #expect((try? JSONSerialization.jsonObject(with: Data(line))) != nil, "a torn line inside the log")
            }
            try await cluster.startAgent(1)
            let listed = try await cluster.cli(1, "endpoint", "ls", "--format", "json")
            for mac in acknowledged { #expect(listed.contains(mac), "acknowledged \(mac) lost") }
            #expect(!acknowledged.isEmpty)
        }
    }
}

extension AgentOperationsTests {
    /// A key rotated over the cluster is kept across a restart (Serf's keyring file): the
    /// restarted agent still talks to a cluster that removed its first key.
    @Test func aRotatedKeyringSurvivesARestart() async throws {
        try await TestCluster.with(hosts: 2, networks: [1: ["blue:100"], 2: ["blue:100"]]) { cluster in
            for h in 1...2 { try await cluster.startAgent(h) }
            let first = try String(contentsOfFile: cluster.keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let second = try run([TestCluster.executable, "keygen"]).trimmingCharacters(in: .whitespacesAndNewlines)
            try await cluster.cli(1, "keys", "--install", second)
            try await cluster.cli(1, "keys", "--use", second)
            try await cluster.cli(1, "keys", "--remove", first)
            await cluster.stopAgent(2)
            try await cluster.startAgent(2)
            try await cluster.addContainer(host: 1, network: "blue", vni: 100, mac: "02:00:00:00:01:01", ip: "10.10.100.11")
            let expected = cluster.expectedRows(2, vni: 100, live: [1, 2], members: [1, 2])
            try await waitUntil("the restarted h2 gets h1's new endpoint", timeout: 60) {
                try await cluster.kernelRows(2, vni: 100) == expected
            }
            let listed = try await cluster.cli(2, "keys", "--list", "--format", "json")
            #expect(listed.contains(second) && !listed.contains(first), "\(listed)")
        }
    }
}
