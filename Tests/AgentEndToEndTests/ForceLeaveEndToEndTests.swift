import Foundation
import GrapevineTestSupport
import Testing

/// `grapevine force-leave` and `grapevine leave` with real agents (issue 20).
@Suite(.serialized, KernelTestGate.trait)
struct ForceLeaveEndToEndTests {
    static let blue = "blue:100"

    /// Each member's status as host `host`'s agent reports it.
    static func statuses(_ cluster: TestCluster, _ host: Int) async throws -> [String: String] {
        let text = try await cluster.cli(host, "members", "--format", "json")
        let members = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] ?? []
        var out: [String: String] = [:]
        for m in members { if let name = m["name"] as? String { out[name] = m["status"] as? String } }
        return out
    }

    /// A CLI call that must fail: its stderr.
    static func refusal(_ cluster: TestCluster, _ host: Int, _ arguments: String...) async -> String? {
        let command = [TestCluster.executable] + arguments + ["--socket", cluster.socket(host)]
        do {
            _ = try await onOwnThread { try run(command) }
            return nil
        } catch let failure as CommandFailed {
            #expect(failure.status != 0)
            return failure.output
        } catch {
            return "\(error)"
        }
    }

    /// h3 killed by PID and declared failed, then forced out from h1: every member marks it
    /// left and its rows are in no kernel; live and unknown members are refused. Then h2
    /// leaves with `grapevine leave`, which answers although its agent exits right after.
    @Test func aFailedMemberIsForcedOutEverywhereAndLiveOnesAreRefused() async throws {
        try await TestCluster.with(hosts: 3, networks: [1: [Self.blue], 2: [Self.blue], 3: [Self.blue]]) { cluster in
            for h in 1...3 { try await cluster.startAgent(h) }
            for h in 1...3 {
                try await cluster.addContainer(host: h, network: "blue", vni: 100, mac: "02:00:00:00:0\(h):01", ip: "10.10.100.\(h * 10 + 1)")
            }
            for h in 1...3 {
                let all = cluster.expectedRows(h, vni: 100, live: [1, 2, 3], members: [1, 2, 3])
                try await waitUntil("h\(h) holds every row", timeout: 60) { try await cluster.kernelRows(h, vni: 100) == all }
            }

            let alive = await Self.refusal(cluster, 1, "force-leave", "h2")
            #expect(alive?.contains("not failed") == true, "\(alive ?? "accepted")")
            let unknown = await Self.refusal(cluster, 1, "force-leave", "nobody")
            #expect(unknown?.contains("no member named") == true, "\(unknown ?? "accepted")")
            #expect(try await Self.statuses(cluster, 1)["h2"] == "alive")

            await cluster.stopAgent(3, signal: SIGKILL)
            try await waitUntil("h1 declares h3 failed", timeout: 120) { try await Self.statuses(cluster, 1)["h3"] == "failed" }
            let answer = try await cluster.cli(1, "force-leave", "h3", "--prune")
            #expect(answer.contains("Forced h3 to leave and forgot it"), "\(answer)")
            #expect(try await Self.statuses(cluster, 1)["h3"] == nil, "pruned on the host that forced it")
            try await waitUntil("h2 marks h3 left", timeout: 60) { try await Self.statuses(cluster, 2)["h3"] == "left" }
            for h in 1...2 {
                let without = cluster.expectedRows(h, vni: 100, live: [1, 2], members: [1, 2])
                try await waitUntil("h\(h)'s kernel holds no row of h3", timeout: 60) { try await cluster.kernelRows(h, vni: 100) == without }
                #expect(try await cluster.kernelRows(h, vni: 100) == without)
            }
            let again = await Self.refusal(cluster, 1, "force-leave", "h3")
            #expect(again?.contains("no member named") == true, "a pruned member is unknown: \(again ?? "accepted")")

            // `leave` answers before the agent goes (it used to print a connection error).
            let left = try await cluster.cli(2, "leave")
            #expect(left.contains("Left the cluster."), "\(left)")
            try await waitUntil("h1 marks h2 left", timeout: 60) { try await Self.statuses(cluster, 1)["h2"] == "left" }
        }
    }
}
