import Foundation
import GrapevineTestSupport
import Testing

/// A write of the data directory that fails is the caller's error, never an acknowledgement
/// (issue 20, "Durability without blocking").
@Suite(.serialized, KernelTestGate.trait)
struct DurabilityTests {
    /// The registry cannot be written (its log's name is taken by a directory, as a disk error
    /// would refuse it): the add fails with the reason and a log line, the endpoint is not
    /// listed nor in the file, and the next add after the fault works (and, after a failed
    /// write, rewrites the whole file).
    @Test func anAddWhoseWriteFailsIsRefusedAndLeavesNothing() async throws {
        try await TestCluster.with(hosts: 1, networks: [1: ["blue:100"]]) { cluster in
            try await cluster.startAgent(1)
            try await cluster.cli(1, "endpoint", "add", "--network", "blue", "--mac", "02:00:00:00:01:01")
            let blocker = cluster.dataDir(1) + "/endpoints.log"
            try FileManager.default.removeItem(atPath: blocker)
            try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
            do {
                try await cluster.cli(1, "endpoint", "add", "--network", "blue", "--mac", "02:00:00:00:01:02")
                Issue.record("an add whose registry write failed was acknowledged")
            } catch {
                #expect("\(error)".contains("cannot open"), "the reason is given: \(error)")
            }
            let listed = try await cluster.cli(1, "endpoint", "ls", "--format", "json")
            #expect(listed.contains("02:00:00:00:01:01") && !listed.contains("02:00:00:00:01:02"))
            let log = try String(contentsOfFile: cluster.log(1), encoding: .utf8)
            #expect(log.contains("cannot write the endpoint registry"))
            try FileManager.default.removeItem(atPath: blocker)
            try await cluster.cli(1, "endpoint", "add", "--network", "blue", "--mac", "02:00:00:00:01:03")
            let registry = try String(contentsOfFile: cluster.dataDir(1) + "/endpoints.json", encoding: .utf8)
            #expect(registry.contains("02:00:00:00:01:03") && !registry.contains("02:00:00:00:01:02"))
        }
    }
}
