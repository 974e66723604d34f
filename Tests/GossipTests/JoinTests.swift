@testable import Gossip
import GossipCore
import GrapevineTestSupport
import GossipWire
import NIOCore
import NIOPosix
import Testing

/// A TCP listener on loopback that accepts connections and never answers: a seed that is up
/// but silent, so only a deadline or a cancellation can end a join to it.
struct SilentSeed {
    let channel: any Channel
    var address: Address { channel.localAddress.flatMap(coreAddress) ?? Address(ipv4: 0x7f00_0001, port: 0) }

    static func start() async throws -> SilentSeed {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
            .bind(host: dottedQuad(freshLoopbackIPv4()), port: 0).get()
        return SilentSeed(channel: channel)
    }

    func stop() async { try? await channel.close() }
}

/// Two started nodes, a and b, that know nothing of each other yet; and a's address.
/// Two started nodes; `a` at `aBind` (its own loopback address unless given).
func startedPair(aBind: Address? = nil) async throws -> (a: GossipNode, b: GossipNode, aAddress: Address) {
    let a = try GossipNode(configuration: config("a", at: aBind))
    let b = try GossipNode(configuration: config("b"))
    let aAddress = try await a.start().address
    try await b.start()
    return (a, b, aAddress)
}

extension GossipRuntimeTests {
    @Test("a join to a silent seed gives up at joinTimeout, naming the seed")
    func joinHonoursItsDeadline() async throws {
        let silent = try await SilentSeed.start()
        var c = config("deadline")
        c.joinTimeout = .seconds(1)
        c.settings.joinMaxAttempts = 100  // the deadline, not the attempts, ends this join
        let node = try GossipNode(configuration: c)
        try await node.start()
        let answered = await bounded("join") {
            await #expect(throws: GossipError.joinFailed(seeds: [SeedFailure(seed: silent.address, reason: .noAnswer)])) {
                try await node.join([silent.address])
            }
        }
        #expect(answered)
        await node.stop()
        await silent.stop()
    }

    @Test("a join ends with .cancelled when its task is cancelled, before or after the loop saw it", arguments: [false, true])
    func joinHonoursCancellation(afterRegistering: Bool) async throws {
        let silent = try await SilentSeed.start()
        var c = config("cancel")
        c.joinTimeout = .seconds(3600)
        c.settings.joinMaxAttempts = 100
        let node = try GossipNode(configuration: c)
        try await node.start()
        let joining = Task { () async -> GossipError? in
            do throws(GossipError) {
                try await node.join([silent.address])
                return nil
            } catch {
                return error
            }
        }
        if afterRegistering {
            let registered = await bounded("join registered") {
                while await node.held()["joins"] == 0 { await Task.yield() }
            }
            #expect(registered)
        }
        joining.cancel()
        let answered = await bounded("cancelled join") { #expect(await joining.value == .cancelled) }
        #expect(answered)
        await node.stop()
        #expect(await node.held()["joins"] == 0)
        await silent.stop()
    }

    @Test("join counts only the seeds that answered this join")
    func joinCountsOnlyItsAnsweringSeeds() async throws {
        let (a, b, aAddress) = try await startedPair()
        let refusing = Address(ipv4: 0x7f00_0001, port: 1)
        #expect(try await b.join([aAddress, refusing]) == 1)
        // Already in a cluster, b still does not count a seed that refused the connection.
        await #expect(throws: GossipError.joinFailed(seeds: [SeedFailure(seed: refusing, reason: .connectionRefused)])) {
            try await b.join([refusing])
        }
        await a.stop()
        await b.stop()
    }

    @Test("seeds given as host[:port]: localhost resolves, garbage is refused with the seed named")
    func joinByHostName() async throws {
        let (a, b, aAddress) = try await startedPair(aBind: Address(ipv4: 0x7f00_0001, port: 0))
        #expect(try await b.join(["localhost:\(aAddress.port)"]) == 1)
        #expect(try await b.join(["127.0.0.1:\(aAddress.port)"]) == 1)
        for bad in ["not a host", "localhost:0", "localhost:99999", ":7946", ""] {
            do {
                try await b.join([bad])
                Issue.record("accepted \(bad)")
            } catch {
                #expect(error.code == .invalidSeed && error.name == bad, "\(error)")
            }
        }
        await a.stop()
        await b.stop()
    }

    @Test func seedsParse() throws {
        #expect(try Seed(parsing: "10.0.0.1") == .address(Address(ipv4: 0x0a00_0001, port: 7946)))
        #expect(try Seed(parsing: "10.0.0.1:80") == .address(Address(ipv4: 0x0a00_0001, port: 80)))
        #expect(try Seed(parsing: "db.example") == .host("db.example", port: 7946))
        #expect(try Seed(parsing: "db.example:8000") == .host("db.example", port: 8000))
        #expect(throws: GossipError.self) { try Seed(parsing: "db example") }
        #expect(throws: GossipError.self) { try Seed(parsing: String(repeating: "a", count: 254)) }
    }

    @Test("setTags reaches the other members as .updated")
    func setTagsIsGossipedAsUpdated() async throws {
        let (a, b, aAddress) = try await startedPair()
        try await b.join([aAddress])
        let events = await a.events()
        try await b.setTags(["role": "db"])
        let seen = await bounded("updated") {
            for await update in events {
                if case .event(let e) = update, e.kind == .updated, e.member.name == "b" {
                    #expect(e.member.tags["role"] == "db")
                    return
                }
            }
            Issue.record("the sequence ended without b's update")
        }
        #expect(seen)
        #expect(a.members.first { $0.name == "b" }?.tags["role"] == "db")
        await a.stop()
        await b.stop()
    }

    @Test("a subscriber that does not read is told what it lost, then follows again")
    func slowSubscriberGetsEventsLost() async throws {
        let nodes = try (0..<4).map { try GossipNode(configuration: config("n\($0)")) }
        var addresses: [Address] = []
        for n in nodes { addresses.append(try await n.start().address) }
        // Buffer of 2: its own `joined` fills one slot, three more members overflow it.
        let lagging = await nodes[0].events(buffer: 2)
        for n in nodes.dropFirst() { try await n.join([addresses[0]]) }
        try await waitUntil(nodes[0], "4 alive") { aliveCount($0) == 4 }
        var reader = lagging.makeAsyncIterator()
        let first = await reader.next()
        guard case .lost(let members)? = first else {
            Issue.record("expected lost first, got \(String(describing: first))")
            return
        }
        #expect(Set(members.map(\.name)).isSuperset(of: ["n0", "n1", "n2"]), "the membership at the drop")
        await nodes[3].leave()
        let resumed = await bounded("events after the loss") {
            // Another iterator of the same sequence reads on from where the first stopped.
            var reader = lagging.makeAsyncIterator()
            while let next = await reader.next() {
                if case .event(let e) = next, e.kind == .left, e.member.name == "n3" { return }
            }
            Issue.record("ended before n3 left")
        }
        #expect(resumed)
        for n in nodes { await n.stop() }
    }
}
