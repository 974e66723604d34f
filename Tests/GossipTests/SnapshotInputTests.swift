import Foundation
import Testing

@testable import Gossip
import GossipCore

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

@Suite struct SnapshotFormatTests {
    @Test func theTextRoundTrips() throws {
        var s = Snapshot()
        s.incarnation = 9
        s.eventClock = 12
        s.queryClock = 3
        s.members = [("a", Address(ipv4: 0x7f00_0001, port: 7000)), ("b", Address(ipv4: 0x0a00_0002, port: 7946))]
        #expect(
            s.text
                == "grapevine-snapshot 1\nincarnation 9\nleft 0\nevent-clock 12\nquery-clock 3\nstate-version 0\nmember 127.0.0.1:7000 a\nmember 10.0.0.2:7946 b\n")
        #expect(Snapshot(parsing: s.text) == s)
        #expect(Snapshot(parsing: s.text)?.core.eventClock == 12)
    }

    /// Clocks at or past the Lamport ceiling, or not numbers, are skipped: the node starts that
    /// clock at 0 rather than at a value that leaves it no room.
    @Test func clocksOutOfRangeAreSkipped() throws {
        let text = "grapevine-snapshot 1\nincarnation 2\nevent-clock 4611686018427387904\nquery-clock x\nevent-clock 5\n"
        let s = try #require(Snapshot(parsing: text))
        #expect(s.eventClock == 5)
        #expect(s.queryClock == 0)
        let huge = try #require(Snapshot(parsing: "grapevine-snapshot 1\nevent-clock 18446744073709551615\n"))
        #expect(huge.eventClock == 0)
    }

    /// A core that knows a live, a failed and a departed member, as a snapshot sees them.
    static func coreKnowingThree() throws -> GossipInstance {
        let me = Address(ipv4: 0x7f00_0001, port: 7000)
        var core = try GossipInstance(name: "me", address: me, settings: Settings(), seed: 1)
        _ = core.handle(.start, now: .zero)
        for (i, name) in ["dead", "gone", "live"].enumerated() {
            let a = Address(ipv4: 0x7f00_0001, port: UInt16(7001 + i))
            _ = core.handle(.datagram(from: a, messages: [.alive(Alive(incarnation: 1, name: name, address: a, tags: Tags()))]), now: .zero)
        }
        let from = Address(ipv4: 0x7f00_0001, port: 7003)
        _ = core.handle(.datagram(from: from, messages: [
            .dead(Dead(incarnation: 1, name: "dead", from: "live", left: false)),
            .dead(Dead(incarnation: 1, name: "gone", from: "gone", left: true)),
        ]), now: .zero)
        return core
    }

    @Test func aNodeThatLeftKeepsNoMembers() throws {
        var core = try Self.coreKnowingThree()
        _ = core.handle(.leave, now: .zero)
        let s = Snapshot(core.snapshot(limit: 10))
        #expect(s.left && s.members.isEmpty)
        #expect(s.text.contains("left 1"))
        #expect(Snapshot(parsing: s.text)?.left == true)
    }

    @Test(arguments: [
        "member", "member 127.0.0.1:7000", "member not-an-address name", "incarnation x", "incarnation -1",
        "future-field 12", "member 127.0.0.1:7000 ",
    ])
    func malformedLinesAreSkipped(_ line: String) throws {
        let text = "grapevine-snapshot 1\nincarnation 5\nleft 0\n\(line)\nmember 127.0.0.1:7001 kept\n"
        let s = try #require(Snapshot(parsing: text))
        #expect(s.incarnation == 5)
        #expect(s.members.map(\.name) == ["kept"])
    }

    @Test func anotherMagicIsNotASnapshot() {
        #expect(Snapshot(parsing: "grapevine-snapshot 2\nincarnation 1\n") == nil)
        #expect(Snapshot(parsing: "") == nil)
    }

    @Test func liveMembersComeFirstAndTheLimitHolds() throws {
        let core = try Self.coreKnowingThree()
        #expect(Snapshot(core.snapshot(limit: 10)).members.map(\.name) == ["live", "dead"], "never the departed, nor itself")
        #expect(Snapshot(core.snapshot(limit: 1)).members.map(\.name) == ["live"])
    }
}

extension GossipRuntimeTests {
    @Test("each snapshot write is announced and counted, and the file lists the members")
    func snapshotWritesAreAnnounced() async throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let (announced, announce) = AsyncStream.makeStream(of: Int.self)
        var c = config("writer", snapshot: dir + "/snapshot")
        c.onSnapshotWritten = { announce.yield($0) }
        let writer = try GossipNode(configuration: c)
        let peer = try GossipNode(configuration: config("peer"))
        let peerAddress = try await peer.start().address
        try await writer.start()
        try await writer.join([peerAddress])
        let listed = await bounded("a snapshot with the peer") {
            for await members in announced where members == 1 { return }
        }
        #expect(listed)
        #expect(await writer.statistics().snapshotsWritten >= 1)
        let file = try #require(try Snapshot.load(from: dir + "/snapshot"))
        #expect(file.members.map(\.name) == ["peer"])
        await writer.stop()
        await peer.stop()
    }
}
