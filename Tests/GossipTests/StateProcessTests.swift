import Foundation
import Testing

/// Replicated state across `gossip-node` processes on 127.0.0.1: rows written on stdin, the
/// replica read from the printed `row-…` and `owner-…` lines.
extension GossipRuntimeTests {
    @Test("4 gossip-node processes: rows replicate, update and delete; a crash makes the owner unavailable; a restart supersedes its old rows; a refused write changes nothing")
    func stateProcesses() async throws {
        guard NodeProcess.isBuilt() else { return }
        let dir = temporaryDirectory()
        // Push/pull every second: a restarted owner meets its old rows within a second or two.
        let fast = ["--probe-interval-ms", "200", "--probe-timeout-ms", "100", "--gossip-interval-ms", "50"]
            + ["--push-pull-interval-ms", "1000", "--join-retry-ms", "200"]
        let count = 4
        let names = (0..<count).map { "p\($0)" }
        var processes: [NodeProcess] = []
        func start(_ i: Int, bind: String, join: String?) throws -> NodeProcess {
            var args = ["--bind", bind, "--snapshot", "\(dir)/p\(i).snapshot"] + fast
            if let join { args += ["--join", join] }
            return try NodeProcess(name: names[i], arguments: args)
        }
        do {
            processes.append(try start(0, bind: "127.0.0.1:0", join: nil))
            try await processes[0].waitUntil("ready") { $0.address != nil }
            let seed = processes[0].address ?? ""
            for i in 1..<count { processes.append(try start(i, bind: "127.0.0.1:0", join: seed)) }
            for p in processes {
                try await p.waitUntil("\(count) joined") { v in names.allSatisfy { v.statuses[$0] == "joined" } }
            }

            // Two rows per process; every process ends up with all eight.
            for (i, p) in processes.enumerated() {
                p.send("row set hosts a host-\(i) a")
                p.send("row set hosts b host-\(i) b")
            }
            for p in processes {
                try await p.waitUntil("8 rows") { v in
                    names.allSatisfy { v.rows(of: $0) == ["hosts a": "host-\($0.dropFirst()) a", "hosts b": "host-\($0.dropFirst()) b"] }
                }
            }

            // An update on p1 and a delete on p2 reach everyone.
            processes[1].send("row set hosts a moved")
            processes[2].send("row rm hosts b")
            for p in processes {
                try await p.waitUntil("the update and the delete") { v in
                    v.rows(of: "p1")["hosts a"] == "moved" && v.rows(of: "p2") == ["hosts a": "host-2 a"]
                }
            }

            // Refused: a value over the limit, a table name over 128 bytes. Errors, nothing changes.
            let p0 = processes[0]
            let before = p0.current.lines.count
            p0.send("row set hosts big \(String(repeating: "x", count: 3_000))")
            p0.send("row set \(String(repeating: "t", count: 200)) k v")
            p0.send("rows p0")
            try await p0.waitUntil("two errors, then the rows") { v in v.lines.dropFirst(before).contains { $0.hasPrefix("rows-done") } }
            let answer = Array(p0.current.lines.dropFirst(before))
            #expect(answer.filter { $0.hasPrefix("error invalid request") }.count == 2, "\(answer)")
            #expect(!answer.contains { $0.hasPrefix("row-added") || $0.hasPrefix("row-written") }, "\(answer)")
            #expect(answer.last == "rows-done 2", "\(answer)")

            // p3 writes once more, and crashes once its snapshot holds that version.
            let crashed = processes[3]
            let crashedAddress = crashed.address ?? ""
            let mark = crashed.current.lines.count
            crashed.send("row set hosts c stale")
            try await crashed.waitUntil("row-written, then a snapshot") { v in
                guard let w = v.lines.dropFirst(mark).firstIndex(where: { $0.hasPrefix("row-written hosts c ") }) else { return false }
                return v.lines[(w + 1)...].contains { $0.hasPrefix("snapshot-written") }
            }
            for p in processes[0..<3] {
                try await p.waitUntil("p3's third row") { $0.rows["p3 hosts c"]?.value == "stale" }
            }
            let oldVersions = processes[0].current.rows.filter { $0.key.hasPrefix("p3 ") }.map(\.value.version)
            crashed.crash()
            await crashed.reap()
            for p in processes[0..<3] {
                try await p.waitUntil("owner-unavailable p3") { $0.unavailable.contains("p3") && $0.statuses["p3"] == "failed" }
                #expect(p.current.rows(of: "p3").count == 3, "an unavailable owner's rows are held")
            }

            // Back from its snapshot, on the same port: it rewrites one row. Its new version is
            // above every old one, and the rows of its previous life it did not rewrite are
            // deleted everywhere (it finds them in the replicas and supersedes them).
            let again = try start(3, bind: crashedAddress, join: nil)
            processes.append(again)
            try await again.waitUntil("sees the others") { v in names.dropLast().allSatisfy { v.statuses[$0] == "joined" } }
            again.send("row set hosts a reborn")
            let maxOld = try #require(oldVersions.max())
            for p in processes[0..<3] + [again] {
                try await p.waitUntil("p3 reborn, its old rows gone") { v in
                    v.rows(of: "p3") == ["hosts a": "reborn"] && (v.rows["p3 hosts a"]?.version ?? 0) > maxOld
                        && !v.unavailable.contains("p3")
                }
            }
        } catch {
            Issue.record(error)
        }
        for p in processes { p.terminate() }
        for p in processes { await p.reap() }
        removeDirectory(dir)
    }
}
