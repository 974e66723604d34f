import Foundation
import Testing

@testable import Gossip

/// The snapshot is outside input too: a corrupt or hand-edited file must not wrap an
/// incarnation or bring back a name that could forge output.
@Suite struct SnapshotInputTests {
    @Test func linesWithBadNamesAreSkippedAndTheRestKept() throws {
        let text = "grapevine-snapshot 1\nincarnation 7\nleft 0\nmember 127.0.0.1:7000 ok\nmember 127.0.0.1:7001 bell\u{7}\nmember 127.0.0.1:7002 rtl\u{202E}x\n"
        let s = try #require(Snapshot(parsing: text))
        #expect(s.incarnation == 7)
        #expect(s.members.map(\.name) == ["ok"])
    }

    @Test(arguments: ["18446744073709551615", "4611686018427387904"])
    func anIncarnationAtTheCeilingDoesNotWrapOrStopTheNode(recorded: String) async throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/snapshot"
        try "grapevine-snapshot 1\nincarnation \(recorded)\nleft 0\n".write(toFile: path, atomically: true, encoding: .utf8)
        let node = try GossipNode(configuration: config("ceiling", snapshot: path))
        try await node.start()
        let incarnation = await node.statistics().incarnation
        await node.stop()
        #expect(incarnation == 0, "refused, not wrapped to 0 by overflow nor adopted at the ceiling")
    }

    @Test func anIncarnationBelowTheCeilingResumesOneAbove() async throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/snapshot"
        try "grapevine-snapshot 1\nincarnation 41\nleft 0\n".write(toFile: path, atomically: true, encoding: .utf8)
        let node = try GossipNode(configuration: config("resume", snapshot: path))
        try await node.start()
        let incarnation = await node.statistics().incarnation
        await node.stop()
        #expect(incarnation == 42)
    }
}
