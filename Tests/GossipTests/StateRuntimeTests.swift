import Foundation
import NIOConcurrencyHelpers
import NIOPosix
import Testing

@testable import Gossip
import GossipCore

/// The runtime's replicated-state API in-process: the stream's snapshot-then-changes contract,
/// its resync signal, refused writes, and the state version across a restart.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct StateRuntimeTests {
    /// A replica rebuilt from a `stateChanges()` sequence, checking each change against it:
    /// an `.added` row must be new, an `.updated` or `.removed` one held at a lower version.
    struct Folded: Sendable {
        var rows: [String: StateRow] = [:]
        var unavailable: Set<String> = []
        var problems: [String] = []
        var resyncs = 0
        var snapshots = 0

        static func id(_ r: StateRow) -> String { "\(r.owner)/\(r.table)/\(r.key)" }

        mutating func take(_ s: StateSnapshot) {
            rows = [:]
            for r in s.rows.values.joined() { rows[Self.id(r)] = r }
            unavailable = s.unavailableOwners
        }

        mutating func apply(_ u: StateUpdate) {
            switch u {
            case .snapshot(let s):
                snapshots += 1
                if snapshots > 1 || !rows.isEmpty || resyncs > 0 { problems.append("a second snapshot") }
                take(s)
            case .lost(let s):
                resyncs += 1
                take(s)
            case .change(let c):
                switch c.kind {
                case .ownerUnavailable: unavailable.insert(c.owner)
                case .ownerAvailable: unavailable.remove(c.owner)
                case .added, .updated, .removed:
                    guard let r = c.row else { return problems.append("\(c.kind) without a row") }
                    let held = rows[Self.id(r)]
                    switch c.kind {
                    case .added where held != nil: problems.append("added twice: \(Self.id(r)) v\(r.version)")
                    case .updated where (held?.version ?? .max) >= r.version:
                        problems.append("updated without an older version held: \(Self.id(r)) v\(r.version)")
                    // A departed owner's rows are removed at the version held.
                    case .removed where (held?.version ?? .max) > r.version:
                        problems.append("removed without its row held: \(Self.id(r)) v\(r.version)")
                    default: break
                    }
                    rows[Self.id(r)] = c.kind == .removed ? nil : r
                }
            }
        }
    }

    /// Reads `updates` into a `Folded`, signalling after each element.
    final class Reader: Sendable {
        let folded = NIOLockedValueBox(Folded())
        let changed: AsyncStream<Void>
        private let signal: AsyncStream<Void>.Continuation
        init() { (changed, signal) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1)) }

        func read(_ updates: Updates<StateUpdate>) -> Task<Void, Never> {
            Task {
                for await u in updates {
                    folded.withLockedValue { $0.apply(u) }
                    signal.yield()
                }
                signal.finish()
            }
        }

        func waitFor(_ condition: @escaping @Sendable (Folded) -> Bool, timeout: Duration = .seconds(30)) async -> Bool {
            await firstTrue(within: timeout) {
                if self.folded.withLockedValue({ condition($0) }) { return true }
                for await _ in self.changed where self.folded.withLockedValue({ condition($0) }) { return true }
                return false
            }
        }
    }

    static func byID(_ s: StateSnapshot) -> [String: StateRow] {
        Dictionary(uniqueKeysWithValues: s.rows.values.joined().map { (Folded.id($0), $0) })
    }

    @Test("subscribers that start while rows are being written see a snapshot, then every later change once", arguments: [1, 2, 3] as [UInt64])
    func snapshotThenChanges(seed: UInt64) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var nodes: [GossipNode] = []
        var readers: [Task<Void, Never>] = []
        do {
            for i in 0..<2 {
                var c = config("s\(i)", group: group)
                c.randomSeed = seed
                let node = try GossipNode(configuration: c)
                try await node.start()
                nodes.append(node)
            }
            _ = try await nodes[1].join([await nodes[0].statistics().address])
            for node in nodes { try await waitUntil(node, "2 alive") { aliveCount($0) == 2 } }

            // Both nodes write, rewrite and delete; each writer subscribes on both nodes at three
            // points of its run, so subscriptions start while rows are written and arrive.
            let writes = 120
            let all = nodes
            let writers = all.map { node in
                Task {
                    var subscribed: [Updates<StateUpdate>] = []
                    for k in 0..<writes {
                        let key = "k\(k % 40)"
                        if k % 7 == 6 {
                            try await node.deleteRow(table: "t", key: key)
                        } else {
                            try await node.writeRow(table: "t", key: key, value: Array("\(node.name)-\(k)".utf8))
                        }
                        if k % 40 == 20 { for n in all { subscribed.append(await n.stateChanges()) } }
                    }
                    return subscribed
                }
            }
            var folds: [Reader] = []
            for w in writers {
                for updates in try await w.value {
                    let r = Reader()
                    readers.append(r.read(updates))
                    folds.append(r)
                }
            }
            // Every replica converges to the owners' final rows; each subscriber's fold must equal
            // its node's replica then.
            let expected = await nodes.asyncMap { await $0.rows(of: $0.name) }.joined()
            let truth = Dictionary(uniqueKeysWithValues: expected.map { (Folded.id($0), $0) })
            for (i, r) in folds.enumerated() {
                let met = await r.waitFor { $0.rows == truth }
                #expect(met, "subscriber \(i): \(r.folded.withLockedValue { $0.rows.count }) rows, want \(truth.count)")
                let f = r.folded.withLockedValue { $0 }
                #expect(f.problems.isEmpty, "subscriber \(i): \(f.problems.prefix(5))")
                #expect(f.snapshots == 1 && f.resyncs == 0)
            }
            for node in nodes { #expect(Self.byID(await node.stateSnapshot()) == truth) }
            let held = await nodes[0].statistics().stateRowsHeld
            #expect(held == truth.count)
        } catch {
            Issue.record("\(error)")
        }
        for node in nodes { await node.stop() }
        for t in readers { await t.value }
        try await group.shutdownGracefully()
    }

    @Test("a subscriber that falls behind gets a resync with the whole replica, not a gap")
    func resyncWhenBehind() async throws {
        let node = try GossipNode(configuration: config("behind"))
        var reader: Task<Void, Never>?
        do {
            try await node.start()
            try await node.writeRow(table: "t", key: "before", value: [1])
            // Nobody reads while 30 rows are written into a buffer of 4.
            let updates = await node.stateChanges(buffer: 4)
            for k in 0..<30 { try await node.writeRow(table: "t", key: "k\(k)", value: Array("\(k)".utf8)) }
            try await node.deleteRow(table: "t", key: "before")
            let r = Reader()
            reader = r.read(updates)
            let truth = Self.byID(await node.stateSnapshot())
            #expect(truth.count == 30)
            #expect(await r.waitFor { $0.rows == truth })
            let f = r.folded.withLockedValue { $0 }
            #expect(f.resyncs >= 1, "the buffer of 4 overflowed")
            #expect(f.problems.isEmpty, "\(f.problems)")
        } catch {
            Issue.record("\(error)")
        }
        await node.stop()
        await reader?.value
    }

    @Test("refused writes throw invalidRequest with the reason, are counted, and change nothing")
    func refusedWrites() async throws {
        var c = config("limits")
        c.settings.stateTables = 1
        c.settings.stateRowsPerOwner = 2
        let metrics = RecordingMetrics()
        c.metricsFactory = metrics
        let node = try GossipNode(configuration: c)
        func refusal(_ table: String, _ key: String, _ value: [UInt8]) async -> GossipError? {
            do { try await node.writeRow(table: table, key: key, value: value) } catch { return error }
            return nil
        }
        do {
            try await node.start()
            let v1 = try await node.writeRow(table: "t", key: "a", value: [1])
            #expect(await refusal("u", "a", [1]) == .invalidRequest(.tooManyTables(1)))
            try await node.writeRow(table: "t", key: "b", value: [2])
            let before = await node.stateSnapshot()
            #expect(await refusal("t", "c", [3]) == .invalidRequest(.tooManyRows(2)))
            #expect(await refusal("t", "a", [UInt8](repeating: 0, count: 5_000))?.code == .invalidRequest)
            let long = String(repeating: "x", count: 200)
            #expect(await refusal(long, "a", []) == .invalidRequest(.invalidName(long)))
            let emptyKey = GossipError.invalidRequest(.invalidKey("", limit: Settings().stateKeySizeLimit))
            #expect(await refusal("t", "", [1]) == emptyKey)
            #expect("\(emptyKey)".contains("row key"))
            await #expect(throws: emptyKey) { try await node.deleteRow(table: "t", key: "") }
            #expect(await node.stateSnapshot() == before)
            let stats = await node.statistics()
            #expect(stats.core.requestsRefused == 6)
            #expect(stats.core.stateRowsWritten == 2)
            // The refusals used no version.
            #expect(try await node.writeRow(table: "t", key: "a", value: [9]) == v1 + 2)
            try await node.deleteRow(table: "t", key: "nothing-here")
            #expect(await node.rows(of: "limits").map(\.value) == [[9], [2]])
        } catch {
            Issue.record("\(error)")
        }
        await node.stop()
        #expect(await refusal("t", "a", []) == .notRunning)
        // Stopping flushes the metrics: three writes, two rows held, six refusals.
        #expect(metrics.value("gossip_state_rows_total", [("outcome", "written")]) == 3)
        #expect(metrics.value("gossip_state_rows") == 2)
        #expect(metrics.value("gossip_state_version") == 3)
        #expect(metrics.value("gossip_requests_refused_total") == 6)
    }

    @Test("the snapshot file keeps the state version: a restarted node versions its rows above its previous ones")
    func stateVersionSurvivesARestart() async throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/snapshot"
        let first = try GossipNode(configuration: config("restarts", snapshot: path))
        try await first.start()
        var last: UInt64 = 0
        for k in 0..<5 { last = try await first.writeRow(table: "t", key: "k\(k)", value: []) }
        await first.stop()
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("\nstate-version \(last)\n"))

        let second = try GossipNode(configuration: config("restarts", snapshot: path))
        try await second.start()
        let next = try await second.writeRow(table: "t", key: "k0", value: [1])
        await second.stop()
        #expect(next == last + 1)
    }
}

@Suite struct StateSnapshotFileTests {
    @Test func theStateVersionRoundTripsAndAnOldFileReadsAsZero() throws {
        var s = Snapshot()
        s.stateVersion = 77
        #expect(s.text.contains("\nstate-version 77\n"))
        #expect(Snapshot(parsing: s.text)?.core.stateVersion == 77)
        let old = try #require(Snapshot(parsing: "grapevine-snapshot 1\nincarnation 3\nleft 0\nevent-clock 2\nquery-clock 1\n"))
        #expect(old.stateVersion == 0 && old.incarnation == 3)
        #expect(Snapshot(parsing: "grapevine-snapshot 1\nstate-version -1\n")?.stateVersion == 0)
    }

    @Test("a state version at the ceiling is refused by the core, not wrapped: the node starts at 0")
    func aVersionAtTheCeiling() async throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/snapshot"
        try "grapevine-snapshot 1\nincarnation 1\nleft 0\nstate-version 18446744073709551615\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        let node = try GossipNode(configuration: config("ceiling", snapshot: path))
        try await node.start()
        let v = try await node.writeRow(table: "t", key: "k", value: [])
        await node.stop()
        #expect(v == 1)
    }
}

extension Sequence {
    func asyncMap<T>(_ f: (Element) async -> T) async -> [T] {
        var out: [T] = []
        for e in self { out.append(await f(e)) }
        return out
    }
}
