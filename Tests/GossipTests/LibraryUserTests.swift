import GossipCore
import GossipWire
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import Gossip

/// What a daemon author meets first (issue 25): files the node must keep, joins that cannot
/// succeed, a node that leaves under a `ServiceGroup`.
extension GossipRuntimeTests {
    @Test("a snapshot path that cannot be written is refused at start, with the path and the reason")
    func unwritableSnapshotIsRefused() async throws {
        let node = try GossipNode(configuration: config("nowhere", snapshot: "/nonexistent-\(getpid())/node.snapshot"))
        do {
            try await node.start()
            Issue.record("started without a place for its snapshot")
        } catch {
            #expect(error.code == .storageFailed && error.setting == "snapshotPath", "\(error)")
            #expect("\(error)".contains("/nonexistent-\(getpid())/node.snapshot.tmp"), "\(error)")
        }
        #expect(await node.phase() == "idle", "nothing bound")
        await node.stop()
    }

    @Test("keyringPath without a keyring is refused by validate()")
    func keyringPathNeedsAKeyring() {
        var c = config("plain")
        c.keyringPath = "/tmp/unused"
        #expect(throws: GossipError.self) { try c.validate() }
        do { try c.validate() } catch { #expect(error.code == .invalidConfiguration && error.setting == "keyringPath") }
    }

    @Test("SecretKey(base64:) throws GossipError.invalidKey, saying why")
    func keyParsingErrorsAreGossipErrors() {
        for (text, why) in [("not base64!", "not base64"), ("Zm9v", "3 bytes")] {
            do {
                _ = try SecretKey(base64: text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.code == .invalidKey, "\(error)")
                #expect("\(error)".contains(why), "\(error)")
            }
        }
    }

    @Test("error texts name what happened: a reserved query name, a row key and its limit, a query's missing answers")
    func errorTextsSayWhatHappened() {
        #expect("\(GossipError.invalidRequest(.reservedName("_grapevine-x", prefix: "_grapevine-")))".contains("reserved"))
        let key = "\(GossipError.invalidRequest(.invalidKey("", limit: 256)))"
        #expect(key.contains("row key") && key.contains("256"), "\(key)")
        #expect("\(QueryEnd.timeout(missing: 3))".contains("3 selected members did not answer"))
    }

    @Test("a member restarted after a key rotation comes back with the cluster's keys from keyringPath, and rejoins")
    func restartAfterRotationRejoins() async throws {
        let dir = temporaryDirectory()
        let old = SecretKey.random()
        let new = SecretKey.random()
        func member(_ name: String, at address: Address? = nil) -> GossipConfiguration {
            // Every start is given the key the cluster began with, as a daemon's configuration would.
            var c = config(name, at: address, keyring: Keyring(primary: old), snapshot: "\(dir)/\(name).snapshot")
            c.keyringPath = "\(dir)/\(name).keyring"
            return c
        }
        let a = try GossipNode(configuration: member("a"))
        let b = try GossipNode(configuration: member("b"))
        let c = try GossipNode(configuration: member("c"))
        var again: GossipNode?
        do {
            let aAddress = try await a.start().address
            try await b.start()
            let cAddress = try await c.start().address
            #expect(try KeyringStore.load(from: "\(dir)/c.keyring") == Keyring(primary: old), "the first start keeps its keyring")
            try await b.join([aAddress])
            try await c.join([aAddress])
            for n in [a, b, c] { try await waitUntil(n, "3 alive") { aliveCount($0) == 3 } }

            #expect(try await a.installKeyEverywhere(new).isComplete)
            #expect(try await a.useKeyEverywhere(new).isComplete)
            #expect(try await a.removeKeyEverywhere(old).isComplete)
            // Stopping waits for the keyring writes asked for before it.
            await c.stop()
            #expect(try KeyringStore.load(from: "\(dir)/c.keyring") == Keyring(primary: new))
            #expect(await c.statistics().keyringsWritten == 3, "one per step")

            let restarted = try GossipNode(configuration: member("c", at: cAddress))
            again = restarted
            let started = try await restarted.start()
            #expect(started.rejoining == 2, "rejoins through its snapshot, no seed given")
            #expect(try await restarted.keys() == [new], "the file wins over configuration.keyring")
            // c's view fills only through answers a and b sealed with the new key, which c opens.
            try await waitUntil(restarted, "3 alive") { aliveCount($0) == 3 }
            for n in [a, b] { try await waitUntil(n, "3 alive") { aliveCount($0) == 3 } }
        } catch {
            Issue.record(error)
        }
        for n in [a, b, c] + (again.map { [$0] } ?? []) { await n.stop() }
    }

    @Test("a member restarted from its snapshot is never suspected at its new incarnation", arguments: [1, 2, 3] as [UInt64])
    func restartIsNotSuspectedAfterRejoining(seed: UInt64) async throws {
        let dir = temporaryDirectory()
        let names = ["a", "b", "c"]
        func member(_ name: String, at address: Address? = nil) -> GossipConfiguration {
            var c = config(name, at: address, snapshot: "\(dir)/\(name).snapshot")
            c.randomSeed = seed &+ UInt64(name.utf8.first ?? 0)
            return c
        }
        let nodes = try names.map { try GossipNode(configuration: member($0)) }
        var again: GossipNode?
        do {
            let aAddress = try await nodes[0].start().address
            try await nodes[1].start()
            let cAddress = try await nodes[2].start().address
            for n in nodes.dropFirst() { try await n.join([aAddress]) }
            for n in nodes { try await n.waitForMembers(3) }
            let log = await EventLog(nodes[0])
            await nodes[2].stop()
            let restarted = try GossipNode(configuration: member("c", at: cAddress))
            again = restarted
            let started = try await restarted.start()
            // An incarnation bump alone emits no event, so a's `members` may show the old one.
            try await waitUntil(restarted, "3 alive") { aliveCount($0) == 3 }
            // A dozen more acks at a: c has been probed since it came back.
            let acks = await nodes[0].statistics().udpAcks
            _ = try await waitForStatistics(nodes[0], "12 more acks") { $0.udpAcks >= acks + 12 }
            let aboutC = log.all.filter { $0.member.name == "c" }
            log.stop()
            // A suspicion of the old incarnation (a probe that failed while c was down) is
            // refuted by the restart; one of the new incarnation would be a false positive.
            let late = aboutC.filter { ($0.kind == .suspected || $0.kind == .failed) && $0.member.incarnation >= started.incarnation }
            #expect(late.isEmpty, "seed \(seed): \(aboutC.map { "\($0.kind)@\($0.member.incarnation)" })")
        } catch {
            Issue.record(error, "seed \(seed)")
        }
        for n in nodes + (again.map { [$0] } ?? []) { await n.stop() }
    }

    @Test("a join returns at once when every seed refused for good: nothing listening, itself; not when one might answer later")
    func joinReturnsWhenEverySeedRefused() async throws {
        var c = config("early", keyring: Keyring(primary: SecretKey.random()))
        c.joinTimeout = .seconds(3600)  // only the early return can end this join within the bound
        c.settings.joinMaxAttempts = 100
        let node = try GossipNode(configuration: c)
        let own = try await node.start().address
        let refusing = Address(ipv4: 0x7f00_0001, port: 1)
        let answered = await bounded("join") {
            do throws(GossipError) {
                try await node.join([refusing, own])
                Issue.record("joined")
            } catch {
                #expect(error.code == .joinFailed, "\(error)")
                let reasons = Dictionary(uniqueKeysWithValues: error.seeds.map { ($0.seed, $0.reason) })
                #expect(reasons[refusing] == .connectionRefused, "\(error)")
                #expect(reasons[own] == .ownAddress, "\(error)")
                #expect("\(error)".contains("own address"), "\(error)")
            }
        }
        #expect(answered)
        // A seed with another key closes without answering, as one over its connection limits
        // does: the join keeps trying (until joinTimeout, here 1 s) rather than give up early.
        let stranger = try GossipNode(configuration: config("stranger", keyring: Keyring(primary: SecretKey.random())))
        let strangerAddress = try await stranger.start().address
        var d = config("patient", keyring: Keyring(primary: SecretKey.random()))
        d.joinTimeout = .seconds(1)
        d.settings.joinMaxAttempts = 100
        let patient = try GossipNode(configuration: d)
        try await patient.start()
        await #expect(throws: GossipError.joinFailed(seeds: [SeedFailure(seed: strangerAddress, reason: .closedWithoutAnswer)])) {
            try await patient.join([strangerAddress])
        }
        for n in [node, stranger, patient] { await n.stop() }
    }

    @Test("under a ServiceGroup, a node that leaves another way ends the group gracefully, as the docs configure it")
    func leaveUnderServiceGroupEndsTheGroupGracefully() async throws {
        let node = try GossipNode(configuration: config("service"))
        let other = GracefulProbe()
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: node, successTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: other),
                ],
                logger: quietLogger))
        let running = Task { try await group.run() }
        // run() starts the node; once its own entry is alive, leave from outside the group.
        let started = await bounded("started") { while await node.phase() != "running" { await Task.yield() } }
        #expect(started)
        await node.leave()
        let ended = await bounded("group") { try await running.value }
        #expect(ended, "the group ended without throwing")
        #expect(other.shutDownGracefully.withLockedValue { $0 }, "the other service saw a graceful shutdown")
    }
}

/// A service that runs until graceful shutdown and records that it saw one.
private final class GracefulProbe: Service, Sendable {
    let shutDownGracefully = NIOLockedValueBox(false)
    func run() async throws {
        try await gracefulShutdown()
        shutDownGracefully.withLockedValue { $0 = true }
    }
}
