import Foundation
import GrapevineTestSupport
import Testing

/// Every bad input of issue 12 through the CLI and the API of a real agent: a clear error,
/// the documented status and exit code, and nothing stored changed.
@Suite(.serialized, KernelTestGate.trait)
struct AgentBadInputTests {
    /// `grapevine ARGS --socket …`: exit status and stderr.
    static func refused(_ cluster: TestCluster, _ host: Int, _ arguments: [String]) -> (status: Int32, stderr: String) {
        do {
            _ = try run([TestCluster.executable] + arguments + ["--socket", cluster.socket(host)])
            return (0, "")
        } catch let e as CommandFailed {
            return (e.status, e.output)
        } catch {
            return (-1, "\(error)")
        }
    }

    /// `curl --unix-socket` with a body: HTTP status and body.
    static func api(_ cluster: TestCluster, _ host: Int, _ method: String, _ path: String, body: String? = nil) throws -> (status: Int, body: String) {
        var arguments = ["curl", "-sS", "--unix-socket", cluster.socket(host), "-X", method, "-o", "-", "-w", "\n%{http_code}"]
        if body != nil { arguments += ["-H", "Content-Type: application/json", "--data-binary", "@-"] }
        arguments.append("http://localhost" + path)
        let out = try run(arguments, input: body)
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? -1, lines.dropLast().joined(separator: "\n"))
    }

    @Test func badEndpointsAndRequestsAreRefusedAndChangeNothing() async throws {
        try await TestCluster.with(hosts: 2, networks: [1: ["blue:100"], 2: ["blue:100"]]) { cluster in
            for h in 1...2 { try await cluster.startAgent(h) }
            try await cluster.cli(1, "endpoint", "add", "--network", "blue", "--mac", "02:00:00:00:01:01", "--ip", "10.10.100.11")
            // h2 must see h1's claim before it can refuse the same IP.
            try await waitUntil("h2 knows h1's endpoint", timeout: 60) {
                let json = try await cluster.cli(2, "network", "ls", "--format", "json").filter { $0 != " " }
                return json.contains("\"remoteEndpoints\":1")
            }
            let before1 = try await cluster.cli(1, "endpoint", "ls", "--format", "json")
            let before2 = try await cluster.cli(2, "endpoint", "ls", "--format", "json")

            let cases: [(host: Int, args: [String], code: String)] = [
                (1, ["endpoint", "add", "--network", "green", "--mac", "02:00:00:00:01:02"], "unknown_network"),
                (1, ["endpoint", "add", "--network", "blue", "--mac", "02:00:00:00:01"], "bad_mac"),
                (1, ["endpoint", "add", "--network", "blue", "--mac", "01:00:5e:00:00:01"], "bad_mac"),
                (1, ["endpoint", "add", "--network", "blue", "--mac", "02:00:00:00:01:02", "--ip", "10.10.100.300"], "bad_ip"),
                (1, ["endpoint", "add", "--network", "blue", "--mac", "02:00:00:00:01:02", "--ip", "fd00::1"], "bad_ip"),
                (1, ["endpoint", "add", "--network", "blue", "--mac", "02:00:00:00:01:01", "--ip", "10.10.100.12"], "duplicate_endpoint"),
                (1, ["endpoint", "add", "--network", "blue", "--mac", "02:00:00:00:01:02", "--ip", "10.10.100.11"], "ip_in_use"),
                (2, ["endpoint", "add", "--network", "blue", "--mac", "02:00:00:00:02:02", "--ip", "10.10.100.11"], "ip_in_use"),
                (1, ["endpoint", "rm", "--network", "blue", "--mac", "02:00:00:00:0f:0f"], "not_found"),
                (1, ["event", "big", String(repeating: "x", count: 4_096)], "too_large"),
            ]
            for c in cases {
                let (status, stderr) = Self.refused(cluster, c.host, c.args)
                #expect(status == 1, "\(c.args): exit \(status)")
                #expect(stderr.contains(c.code), "\(c.args): \(stderr)")
            }

            // The same through the API, with the HTTP status.
            let apiCases: [(method: String, path: String, body: String?, status: Int, code: String)] = [
                ("POST", "/v1/endpoints", #"{"network":"green","mac":"02:00:00:00:01:02"}"#, 404, "unknown_network"),
                ("POST", "/v1/endpoints", #"{"network":"blue","mac":"zz"}"#, 400, "bad_mac"),
                ("POST", "/v1/endpoints", #"{"network":"blue","mac":"02:00:00:00:01:02","ip":"nope"}"#, 400, "bad_ip"),
                ("POST", "/v1/endpoints", #"{"network":"blue","mac":"02:00:00:00:01:01"}"#, 409, "duplicate_endpoint"),
                ("POST", "/v1/endpoints", #"{"network":"blue","mac":"02:00:00:00:01:02","ip":"10.10.100.11"}"#, 409, "ip_in_use"),
                ("POST", "/v1/endpoints", "this is not json", 400, "bad_json"),
                ("POST", "/v1/endpoints", #"{"network":1}"#, 400, "bad_json"),
                ("POST", "/v1/event", #"{"name":"big","payload":"\#(String(repeating: "x", count: 4_096))"}"#, 413, "too_large"),
                ("POST", "/v1/endpoints", "{\"network\":\"" + String(repeating: "a", count: 200_000) + "\"}", 413, "too_large"),
            ]
            for c in apiCases {
                let (status, body) = try Self.api(cluster, 1, c.method, c.path, body: c.body)
                #expect(status == c.status, "\(c.method) \(c.path): \(status) \(body.prefix(300))")
                #expect(body.contains(c.code), "\(c.method) \(c.path): \(body.prefix(300))")
            }
            #expect(try await cluster.cli(1, "endpoint", "ls", "--format", "json") == before1)
            #expect(try await cluster.cli(2, "endpoint", "ls", "--format", "json") == before2)
            // The agents are still up and answering.
            let up1 = (try? await cluster.cli(1, "info")) != nil
            let up2 = (try? await cluster.cli(2, "info")) != nil
            #expect(up1 && up2)
        }
    }

    /// A malformed, unreadable or incomplete configuration: the agent does not start, exits
    /// 78 (EX_CONFIG) and says what and where.
    @Test(arguments: [
        ("name = \"a\"\nbind = [1, 2\n", "line 2"),
        ("name = \"a\"\nbindd = \"1.2.3.4\"\ninsecure = true\n", "bindd"),
        ("name = \"a\"\nvxlan_port = \"x\"\ninsecure = true\n", "vxlan_port"),
        ("name = \"a\"\n[[network]]\nname = \"b\"\nvni = 99999999\n", "vni"),
        ("name = \"a\"\nbind = \"10.0.0.1:7946\"\n", "key"),
        ("name = \"a\"\nbind = \"10.0.0.1:7946\"\ninsecure = true\nunderlay_mtu = 100\n", "underlay_mtu"),
    ])
    func badConfigurationIsRefused(file: String, mentions: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gv-config-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("agent.toml").path
        try Data(file.utf8).write(to: URL(fileURLWithPath: path))
        do {
            try run([TestCluster.executable, "agent", "--config", path, "--data-dir", directory.path,
                     "--api-socket", directory.appendingPathComponent("s").path])
            Issue.record("the agent started with \(file)")
        } catch let e as CommandFailed {
            #expect(e.status == 78, "\(e.output)")
            #expect(e.output.contains(mentions), "\(e.output)")
        }
    }

    @Test func anUnreadableConfigurationIsRefused() throws {
        do {
            try run([TestCluster.executable, "agent", "--config", "/nonexistent/grapevine.toml"])
            Issue.record("the agent started without its config file")
        } catch let e as CommandFailed {
            #expect(e.status == 78)
            #expect(e.output.contains("/nonexistent/grapevine.toml"))
        }
    }
}
