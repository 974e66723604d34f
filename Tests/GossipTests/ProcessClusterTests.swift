import Foundation
import Testing

extension GossipRuntimeTests {
    @Test("gossip-node processes converge, detect a crash, see a departure, take back a restarted node")
    func processCluster() async throws {
        guard FileManager.default.isExecutableFile(atPath: NodeProcess.executable) else {
            Issue.record("gossip-node not built next to the tests: \(NodeProcess.executable)")
            return
        }
        let dir = temporaryDirectory()
        let fast = [
            "--probe-interval-ms", "200", "--probe-timeout-ms", "100", "--gossip-interval-ms", "50",
            "--push-pull-interval-ms", "2000", "--join-retry-ms", "200",
        ]
        let count = 4
        var processes: [NodeProcess] = []
        do {
            let first = try NodeProcess(
                name: "p0", arguments: ["--bind", "127.0.0.1:0", "--snapshot", "\(dir)/p0.snapshot"] + fast)
            processes.append(first)
            try await first.waitUntil("ready") { $0.address != nil }
            let seed = first.address ?? ""
            for i in 1..<count {
                processes.append(
                    try NodeProcess(
                        name: "p\(i)",
                        arguments: ["--bind", "127.0.0.1:0", "--join", seed, "--snapshot", "\(dir)/p\(i).snapshot"] + fast))
            }
            for p in processes {
                try await p.waitUntil("\(count) joined") { v in (0..<count).allSatisfy { v.statuses["p\($0)"] == "joined" } }
            }

            let crashed = processes[count - 1]
            let crashedAddress = crashed.address ?? ""
            // Crash it only once its snapshot knows the others, or there is nothing to restart from.
            try await crashed.waitUntil("a snapshot listing the others") { ($0.snapshotMembers ?? 0) == count - 1 }
            crashed.crash()
            await crashed.reap()
            for p in processes[0..<(count - 1)] {
                try await p.waitUntil("p\(count - 1) failed") { $0.statuses["p\(count - 1)"] == "failed" }
            }

            let leaver = processes[count - 2]
            leaver.terminate()
            for p in processes[0..<(count - 2)] {
                try await p.waitUntil("p\(count - 2) left") { $0.statuses["p\(count - 2)"] == "left" }
            }
            await leaver.reap()

            // Same port, no --join: the snapshot brings it back.
            let again = try NodeProcess(
                name: "p\(count - 1)",
                arguments: ["--bind", crashedAddress, "--snapshot", "\(dir)/p\(count - 1).snapshot"] + fast)
            processes.append(again)
            for p in processes[0..<(count - 2)] {
                try await p.waitUntil("p\(count - 1) back") { $0.statuses["p\(count - 1)"] == "joined" }
            }
            try await again.waitUntil("sees the others") { v in (0..<(count - 2)).allSatisfy { v.statuses["p\($0)"] == "joined" } }
        } catch {
            Issue.record(error)
        }
        for p in processes { p.terminate() }
        for p in processes { await p.reap() }
        removeDirectory(dir)
    }
}
