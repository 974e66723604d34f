import GossipCore
import GossipWire
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import Gossip

extension GossipRuntimeTests {
    @Test("a key rotation on live nodes: install, use on one, join through it, use everywhere, remove the old key, the old key is refused")
    func rotationOnLiveNodes() async throws {
        let old = SecretKey.random()
        let new = SecretKey.random()
        let metrics = RecordingMetrics()
        var aConfig = config("a", keyring: Keyring(primary: old))
        aConfig.metricsFactory = metrics
        let a = try GossipNode(configuration: aConfig)
        let b = try GossipNode(configuration: config("b", keyring: Keyring(primary: old)))
        let c = try GossipNode(configuration: config("c", keyring: Keyring(primary: old)))
        // Holds only the new key: it can join only through a member that seals with it.
        let d = try GossipNode(configuration: config("d", keyring: Keyring(primary: new)))
        // Holds only the old key: once the cluster dropped it, nobody opens what it sends.
        var eConfig = config("e", keyring: Keyring(primary: old))
        eConfig.settings.joinMaxAttempts = 1
        let e = try GossipNode(configuration: eConfig)
        let cluster = [a, b, c]
        do {
            for n in cluster + [d, e] { try await n.start() }
            let aAddress = await a.statistics().address
            try await b.join([aAddress])
            try await c.join([aAddress])
            for n in cluster { try await waitUntil(n, "3 alive") { aliveCount($0) == 3 } }

            // 1. Install the new key everywhere: decrypt-only, nothing sent changes.
            for n in cluster { try await n.installKey(new) }
            for n in cluster { #expect(try await n.keys() == [old, new]) }

            // 2. One member seals with it. What it sends opens at the others, who hold it as a
            // second key: its new tags reach both, and neither refuses a packet.
            try await a.useKey(new)
            #expect(try await a.keys() == [new, old])
            try await a.setTags(["key": "new"])
            for n in [b, c] {
                try await waitUntil(n, "a's new tags") { $0.first { $0.name == "a" }?.tags == ["key": "new"] }
                #expect(await n.statistics().wire[.unauthenticated] == 0)
            }
            // A node holding only the new key joins through a: a's answer is sealed with it. And
            // a's datagrams are: d opens an ack, which only a can seal with the new key so far.
            #expect(try await d.join([aAddress]) == 1)
            try await waitForStatistics(d, "an ack from a") { $0.udpAcks > 0 }

            // 3. Every member seals with the new key; the cluster, d included, converges.
            for n in [b, c] { try await n.useKey(new) }
            for n in cluster + [d] { try await waitUntil(n, "4 alive") { aliveCount($0) == 4 } }

            // 4. The old key goes everywhere.
            for n in cluster { try await n.removeKey(old) }
            for n in cluster + [d] { #expect(try await n.keys() == [new]) }
            let before = await a.statistics().wire[.unauthenticated]

            // A node on the old key alone is refused: its join frames and its datagrams do not
            // open at a, and are counted.
            await #expect(throws: GossipError.joinFailed(seeds: [SeedFailure(seed: aAddress, reason: .closedWithoutAnswer)])) {
                try await e.join([aAddress])
            }
            let afterJoin = try await waitForStatistics(a, "e's frames refused") { $0.wire[.unauthenticated] > before }
            let ping = Ping(sequence: 1, target: "a", source: "e", sourceAddress: await e.statistics().address)
            await e.sendUncheckedDatagram([.ping(ping)], to: aAddress)
            try await waitForStatistics(a, "e's datagram refused") {
                $0.wire[.unauthenticated] > afterJoin.wire[.unauthenticated]
            }
            #expect(a.members.allSatisfy { $0.name != "e" })
            for n in cluster + [d] { #expect(aliveCount(n.members) == 4) }

            let stats = await a.statistics()
            #expect(stats.keyOperations.applied == ["install": 1, "use": 1, "remove": 1, "list": 3])
            #expect(stats.keyOperations.refused.isEmpty)
        } catch {
            Issue.record(error)
        }
        for n in cluster + [d, e] { await n.stop() }
        for op in ["install", "use", "remove"] {
            #expect(metrics.value("gossip_key_operations_total", [("operation", op), ("outcome", "applied")]) == 1)
        }
    }

    @Test("key operations refused: plaintext node, unknown key, the primary, a full keyring; each counted, none half-applied")
    func refusedKeyOperations() async throws {
        let plain = try GossipNode(configuration: config("plain"))
        let k = SecretKey.random()
        await #expect(throws: GossipError.noKeyring) { try await plain.installKey(k) }
        await #expect(throws: GossipError.noKeyring) { try await plain.useKey(k) }
        await #expect(throws: GossipError.noKeyring) { try await plain.keys() }
        #expect(await plain.statistics().keyOperations.refused == ["no_keyring": 3])
        await plain.stop()

        let primary = SecretKey.random()
        let other = SecretKey.random()
        let stranger = SecretKey.random()
        let metrics = RecordingMetrics()
        var sealedConfig = config("sealed", keyring: Keyring(primary: primary, others: [other]))
        sealedConfig.metricsFactory = metrics
        let node = try GossipNode(configuration: sealedConfig)
        // Before start: the keyring the node will start with.
        let ring = [primary, other]
        await #expect(throws: GossipError.cannotRemovePrimary(primary.fingerprint)) { try await node.removeKey(primary) }
        #expect(try await node.keys() == ring)
        await #expect(throws: GossipError.unknownKey(stranger.fingerprint)) { try await node.useKey(stranger) }
        #expect(try await node.keys() == ring)
        await #expect(throws: GossipError.unknownKey(stranger.fingerprint)) { try await node.removeKey(stranger) }
        #expect(try await node.keys() == ring)

        try await node.start()
        var filled = ring
        while filled.count < Keyring.maxKeys {
            let extra = SecretKey.random()
            try await node.installKey(extra)
            filled.append(extra)
        }
        await #expect(throws: GossipError.keyringFull) { try await node.installKey(stranger) }
        #expect(try await node.keys() == filled)
        // Held already, or primary already: the keyring is as asked, nothing changes.
        try await node.installKey(other)
        try await node.useKey(primary)
        #expect(try await node.keys() == filled)
        await node.stop()

        let counted = await node.statistics().keyOperations
        #expect(counted.refused == ["cannot_remove_primary": 1, "unknown_key": 2, "keyring_full": 1])
        #expect(counted.applied["install"] == Keyring.maxKeys - 2 + 1)
        #expect(counted.applied["use"] == 1)
        #expect(metrics.value("gossip_key_operations_total", [("operation", "use"), ("outcome", "unknown_key")]) == 1)
        #expect(metrics.value("gossip_key_operations_total", [("operation", "install"), ("outcome", "keyring_full")]) == 1)
        #expect(GossipError.cannotRemovePrimary(primary.fingerprint).description.contains("\(primary.fingerprint)"))
    }

    @Test("a rotation through the internal key queries: every member applies each step, the report says so, and users never see the queries")
    func rotationEverywhere() async throws {
        let old = SecretKey.random()
        let new = SecretKey.random()
        let stranger = SecretKey.random()
        // Slow suspicion: a member stopped below stays live in the others' view past a query's timeout.
        func node(_ name: String) throws -> GossipNode {
            var c = config(name, keyring: Keyring(primary: old))
            c.settings.suspicionMultiplier = 25
            return try GossipNode(configuration: c)
        }
        let a = try node("a")
        let b = try node("b")
        let c = try node("c")
        let cluster = [a, b, c]
        let shown = NIOLockedValueBox<[String]>([])
        var watchers: [Task<Void, Never>] = []
        do {
            for n in cluster { try await n.start() }
            let aAddress = await a.statistics().address
            try await b.join([aAddress])
            try await c.join([aAddress])
            for n in cluster { try await waitUntil(n, "3 alive") { aliveCount($0) == 3 } }
            for n in cluster {
                let queries = await n.incomingQueries()
                watchers.append(Task {
                    for await case .query(let q) in queries { shown.withLockedValue { $0.append(q.name) } }
                })
            }
            let everyone = ["a", "b", "c"]

            let installed = try await b.installKeyEverywhere(new)
            #expect(installed.isComplete, "\(installed)")
            #expect(installed.applied == everyone)
            #expect(installed.keys == [old.fingerprint: 3, new.fingerprint: 3])
            #expect(installed.primaries == [old.fingerprint: 3])

            let used = try await b.useKeyEverywhere(new)
            #expect(used.isComplete, "\(used)")
            #expect(used.primaries == [new.fingerprint: 3])

            let removed = try await b.removeKeyEverywhere(old)
            #expect(removed.isComplete, "\(removed)")
            #expect(removed.keys == [new.fingerprint: 3])

            let listed = try await a.keysEverywhere()
            #expect(listed.applied == everyone && listed.missing.isEmpty && listed.failed.isEmpty)
            #expect(listed.keys == [new.fingerprint: 3])
            #expect(listed.primaries == [new.fingerprint: 3])
            for n in cluster {
                #expect(try await n.keys() == [new])
                #expect(await n.statistics().keyOperations.applied == ["install": 1, "use": 1, "remove": 1, "list": 2])
            }
            for n in cluster { #expect(aliveCount(n.members) == 3) }

            // Refusals are per member, with the reason, and change nothing.
            let primaryRemoved = try await a.removeKeyEverywhere(new)
            #expect(primaryRemoved.applied.isEmpty)
            #expect(primaryRemoved.failed.keys.sorted() == everyone)
            #expect(primaryRemoved.failed.values.allSatisfy { $0.contains("is the primary key") })
            #expect(primaryRemoved.keys == [new.fingerprint: 3])
            let unknown = try await a.useKeyEverywhere(stranger)
            #expect(unknown.failed.values.allSatisfy { $0.contains("\(stranger.fingerprint) is not installed") })
            #expect(unknown.failed.count == 3)

            // A member that does not answer is named.
            await c.stop()
            let partial = try await a.keysEverywhere(timeout: .seconds(1))
            #expect(partial.asked == 3)
            #expect(partial.applied == ["a", "b"])
            #expect(partial.missing == ["c"])
            #expect(!partial.isComplete)
        } catch {
            Issue.record(error)
        }
        for n in cluster { await n.stop() }
        for w in watchers { await w.value }
        #expect(shown.withLockedValue { $0 }.isEmpty, "internal queries reached a user")
    }

    @Test("a full rotation through the key queries across eight nodes, asked from different members")
    func rotationEverywhereAcrossEight() async throws {
        let old = SecretKey.random()
        let new = SecretKey.random()
        let nodes = try (0..<8).map { try GossipNode(configuration: config("n\($0)", keyring: Keyring(primary: old))) }
        do {
            for n in nodes { try await n.start() }
            let seed = await nodes[0].statistics().address
            for n in nodes.dropFirst() { try await n.join([seed]) }
            for n in nodes { try await waitUntil(n, "8 alive") { aliveCount($0) == 8 } }
            // Each step asked by another member.
            let reports = [
                try await nodes[1].installKeyEverywhere(new),
                try await nodes[4].useKeyEverywhere(new),
                try await nodes[7].removeKeyEverywhere(old),
            ]
            for report in reports {
                #expect(report.isComplete, "\(report)")
                #expect(report.applied.count == 8, "\(report)")
            }
            let listed = try await nodes[2].keysEverywhere()
            #expect(listed.keys == [new.fingerprint: 8])
            #expect(listed.primaries == [new.fingerprint: 8])
            for n in nodes {
                #expect(try await n.keys() == [new])
                #expect(aliveCount(n.members) == 8)
                #expect(await n.statistics().wire[.unauthenticated] == 0)
            }
        } catch {
            Issue.record(error)
        }
        for n in nodes { await n.stop() }
    }

    @Test("key queries: a plaintext node refuses to ask, users cannot ask them, malformed ones are answered as failed and counted")
    func keyQueriesRefused() async throws {
        let plain = try GossipNode(configuration: config("plain"))
        let sealed = try GossipNode(configuration: config("sealed", keyring: Keyring(primary: SecretKey.random())))
        do {
            try await plain.start()
            try await sealed.start()
            await #expect(throws: GossipError.noKeyring) { try await plain.installKeyEverywhere(SecretKey.random()) }
            await #expect(throws: GossipError.noKeyring) { try await plain.keysEverywhere() }
            #expect(await plain.statistics().keyOperations == KeyOperationCounters())
            do {
                _ = try await sealed.query(QueryRequest(name: "_grapevine-key-list", payload: [4]))
                Issue.record("a user asked an internal key query")
            } catch {
                #expect(error.code == .invalidRequest)
            }
            // Through the runtime's own door: a list request in a use query, and an unknown operation.
            for (payload, message) in [([UInt8(4)], "a list request in a use query"), ([9], "undecodable request (unknown_key_operation)")] {
                let answers = try await sealed.ask(QueryRequest(name: "_grapevine-key-use", payload: payload, wantsAcks: false))
                var got: [KeyResponse] = []
                for await case .response(_, let bytes) in answers {
                    var b = ByteBuffer(bytes: bytes)
                    got.append(try KeyResponse.decode(&b))
                }
                #expect(got.map(\.ok) == [false])
                #expect(got.first?.message == message)
                #expect(got.first?.keys.count == 1)
            }
            #expect(await sealed.statistics().keyOperations.refused == ["malformed_request": 2])
        } catch {
            Issue.record(error)
        }
        await plain.stop()
        await sealed.stop()
    }

    @Test("key operations answer in every lifecycle state", arguments: ["neverStarted", "running", "left", "stopped"])
    func keyOperationsInEveryState(_ state: String) async throws {
        let old = SecretKey.random()
        let new = SecretKey.random()
        let node = try GossipNode(configuration: config("keys-\(state)", keyring: Keyring(primary: old)))
        switch state {
        case "running": try await node.start()
        case "left":
            try await node.start()
            await node.leave()
        case "stopped":
            try await node.start()
            await node.stop()
        default: break
        }
        let answered = await bounded("key operations when \(state)") {
            try await node.installKey(new)
            try await node.useKey(new)
            try await node.removeKey(old)
            #expect(try await node.keys() == [new])
        }
        #expect(answered)
        await node.stop()
        #expect(await node.held() == ["connections": 0, "timers": 0, "awaitingReply": 0, "joins": 0, "channels": 0])
    }

    @Test("a configuration with more keys than a keyring holds is refused")
    func oversizedKeyringRefused() {
        let keys = (0...Keyring.maxKeys).map { _ in SecretKey.random() }
        let c = config("many", keyring: Keyring(primary: keys[0], others: Array(keys.dropFirst())))
        do {
            try c.validate()
            Issue.record("a keyring of \(keys.count) keys was accepted")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.setting == "keyring")
        }
    }
}

@Suite("KeyReportBuilder")
struct KeyReportTests {
    let k1 = KeyFingerprint(rawValue: 1)
    let k2 = KeyFingerprint(rawValue: 2)

    @Test func answersFailuresAndSilenceMakeTheReport() {
        var builder = KeyReportBuilder(operation: .list, expected: ["a", "b", "c", "d", "d"])
        var accepted: [Bool] = []
        accepted.append(builder.add(KeyResponse(ok: true, keys: [k2, k1]), from: "a"))
        accepted.append(builder.add(KeyResponse(ok: true, keys: [k2, k1, k1]), from: "b"))
        accepted.append(builder.add(KeyResponse(ok: false, message: "no such key\n", keys: [k1]), from: "c"))
        // A member not asked (it joined meanwhile) counts as any other.
        accepted.append(builder.add(KeyResponse(ok: true, keys: [k2]), from: "e"))
        // A second answer from a member is ignored.
        accepted.append(builder.add(KeyResponse(ok: false, message: "again", keys: []), from: "a"))
        #expect(accepted == [true, true, true, true, false])
        let r = builder.report
        #expect(r.asked == 4)
        #expect(r.applied == ["a", "b", "e"])
        #expect(r.failed == ["c": "no such key\\u{a}"])
        #expect(r.missing == ["d"])
        #expect(r.keys == [k1: 3, k2: 3])
        #expect(r.primaries == [k2: 3, k1: 1])
        #expect(r.truncated.isEmpty)
        #expect(!r.isComplete)
        #expect(r.description.contains("list: 3 of 4 members applied it, 1 failed, 1 did not answer"))
        #expect(r.description.contains("no answer d"))
        #expect(r.description.contains("key \(k2): held by 3, primary on 3"))
    }

    @Test func anUndecodableAnswerIsAFailureAndACompleteRoundIsComplete() {
        var builder = KeyReportBuilder(operation: .use, expected: ["a", "b"])
        builder.add(KeyResponse(ok: true, keys: [k2, k1]), from: "a")
        #expect(!builder.report.isComplete)
        let first = builder.addUndecodable(from: "b", .truncated)
        let second = builder.addUndecodable(from: "b", .truncated)
        #expect(first && !second)
        #expect(builder.report.failed == ["b": "undecodable answer (truncated)"])
        #expect(builder.report.missing.isEmpty)

        var all = KeyReportBuilder(operation: .install, expected: ["a", "b"])
        let long = KeyResponse(ok: true, keys: (1...200).map { KeyFingerprint(rawValue: UInt64($0)) })
        all.add(long, from: "a")
        all.add(KeyResponse(ok: true, keys: [k1]), from: "b")
        #expect(all.report.isComplete)
        #expect(all.report.truncated == ["a"])
        #expect(all.report.primaries == [k1: 2])
    }
}
