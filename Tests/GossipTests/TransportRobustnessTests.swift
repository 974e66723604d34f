@testable import Gossip
import GossipCore
import GrapevineTestSupport
import GossipWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

// MARK: pure policies

@Suite("transport policies")
struct TransportPolicyTests {
    let v4Loopback = Address(ipv4: 0x7f00_0001, port: 7946)

    @Test("an IPv4 loopback socket refuses what it cannot send to, and nothing else")
    func destinationsFromIPv4Loopback() {
        let policy = DestinationPolicy(bound: v4Loopback, localBroadcasts: [0x7fff_ffff, 0x7f00_0000])
        func check(_ text: String) -> DestinationPolicy.Refusal? {
            guard let a = Address(parsing: text) else {
                Issue.record("cannot parse \(text)")
                return nil
            }
            return policy.check(a)
        }
        #expect(check("127.0.0.2:7946") == nil)
        #expect(check("[::1]:7946") == .wrongFamily)
        #expect(check("127.0.0.1:0") == .portZero)
        #expect(check("0.0.0.0:7946") == .unspecified)
        #expect(check("255.255.255.255:7946") == .broadcast)
        #expect(check("127.255.255.255:7946") == .broadcast)
        #expect(check("224.0.0.1:7946") == .multicast)
        #expect(check("240.0.0.1:7946") == .reserved)
        #expect(check("10.0.0.1:7946") == .notLoopback)
    }

    @Test("an IPv6 socket refuses IPv4 unless it is a dual-stack wildcard")
    func destinationsFromIPv6() {
        let loopback6 = DestinationPolicy(bound: Address(ipv6High: 0, low: 1, port: 7946))
        let wildcard6 = DestinationPolicy(bound: Address(ipv6High: 0, low: 0, port: 7946))
        let v4 = Address(ipv4: 0x0a00_0001, port: 7946)
        #expect(loopback6.check(v4) == .wrongFamily)
        #expect(wildcard6.check(v4) == nil)
        #expect(loopback6.check(Address(ipv6High: 0, low: 1, port: 1)) == nil)
        #expect(loopback6.check(Address(ipv6High: 0x2001_0db8_0000_0000, low: 1, port: 1)) == .notLoopback)
        #expect(wildcard6.check(Address(ipv6High: 0xfe80_0000_0000_0000, low: 1, port: 1)) == .linkLocal)
        #expect(wildcard6.check(Address(ipv6High: 0xff02_0000_0000_0000, low: 1, port: 1)) == .multicast)
        #expect(wildcard6.check(Address(ipv6High: 0, low: 0, port: 1)) == .unspecified)
    }

    @Test("the UDP-blocked detector fires within its window, clears on an ack, and fires again later")
    func udpSilenceWindow() {
        var d = UDPSilenceDetector(window: 3)
        // Acks keep arriving: never blocked, however many probes and streams.
        for total in 1...10 {
            d.streamReceived()
            #expect(d.probesSent(total: total) == nil)
            #expect(d.ackReceived() == nil)
        }
        // Now UDP goes quiet, while a push/pull still arrives over TCP.
        d.streamReceived()
        #expect(d.probesSent(total: 11) == nil)
        #expect(d.probesSent(total: 12) == nil)
        #expect(d.probesSent(total: 13) == .blocked(probes: 3, streams: 1))
        #expect(d.isBlocked)
        #expect(d.probesSent(total: 20) == nil, "reported once per episode")
        #expect(d.ackReceived() == .cleared)
        #expect(!d.isBlocked)
        // Quiet again, but no stream message: the peers may simply be gone, so no warning.
        #expect(d.probesSent(total: 30) == nil)
        d.streamReceived()
        #expect(d.probesSent(total: 31) == .blocked(probes: 11, streams: 1))
    }

    @Test("rate-limited reports: the first per key in full, the rest in one summary per interval")
    func rateLimitedReports() {
        var r = RateLimitedReports<String>(interval: .seconds(60), maxKeys: 2)
        let t0 = Instant(nanoseconds: 1_000_000_000)
        #expect(r.summary(now: t0) == nil)
        #expect(r.record("a", reason: "x") == .report)
        #expect(r.record("a", reason: "x") == .suppressed)
        #expect(r.record("b", reason: "y") == .report)
        #expect(r.record("c", reason: "y") == .suppressed, "beyond maxKeys, new keys only go into the summary")
        #expect(r.summary(now: t0 + .seconds(59)) == nil)
        let s = r.summary(now: t0 + .seconds(60))
        #expect(s == .init(counts: ["x": 1, "y": 1], keys: 2))
        #expect(r.summary(now: t0 + .seconds(200)) == nil, "nothing suppressed since")
        #expect(r.record("c", reason: "y") == .report, "a full set of keys is forgotten at a summary")
    }

    @Test("the stream budget refuses the connection and the bytes beyond each bound")
    func streamBudget() {
        var b = StreamBudget(maxInbound: 3, maxInboundPerHost: 2, maxBuffered: 100, maxBufferedPerHost: 60)
        let h1 = Address(ipv4: 0x0a00_0001, port: 0)
        let h2 = Address(ipv4: 0x0a00_0002, port: 0)
        #expect(b.admit(from: h1) == nil)
        #expect(b.admit(from: h1) == nil)
        #expect(b.admit(from: h1) == .hostConnectionLimit)
        #expect(b.admit(from: h2) == nil)
        #expect(b.admit(from: h2) == .connectionLimit)
        b.release(inboundFrom: h1)
        #expect(b.admit(from: h2) == nil)
        #expect(b.inbound == 3)

        #expect(b.reserve(for: h1, from: 0, to: 50) == nil)
        #expect(b.reserve(for: h1, from: 0, to: 20) == .hostBufferLimit)
        #expect(b.reserve(for: h2, from: 0, to: 50) == nil)
        #expect(b.reserve(for: h2, from: 0, to: 10) == .bufferLimit)
        #expect(b.buffered == 100)
        #expect(b.reserve(for: h1, from: 50, to: 0) == nil)
        #expect(b.reserve(for: h2, from: 0, to: 10) == nil)
        #expect(b.buffered == 60)
    }

    @Test("configuration bounds are checked with clear errors")
    func configurationValidation() {
        func rejects(_ change: (inout GossipConfiguration) -> Void, _ field: String) {
            var c = config("v")
            change(&c)
            do {
                _ = try GossipNode(configuration: c)
                Issue.record("accepted a bad \(field)")
            } catch {
                #expect(error.code == .invalidConfiguration && error.setting == field, "\(error)")
            }
        }
        rejects({ $0.maxInboundConnections = 0 }, "maxInboundConnections")
        rejects({ $0.maxInboundConnectionsPerHost = 500 }, "maxInboundConnectionsPerHost")
        rejects({ $0.maxFrameSize = 2 << 30 }, "maxFrameSize")
        rejects({ $0.maxStreamBufferedBytesPerHost = 1024 }, "maxStreamBufferedBytesPerHost")
        rejects({ $0.maxStreamBufferedBytes = 1 << 20 }, "maxStreamBufferedBytes")
        rejects({ $0.streamFirstFrameTimeout = .zero }, "streamFirstFrameTimeout")
        rejects({ $0.streamMaxLifetime = .seconds(100_000) }, "streamMaxLifetime")
        #expect(throws: Never.self) { _ = try GossipNode(configuration: config("ok")) }
    }
}

// MARK: live nodes on loopback

extension GossipRuntimeTests {
    @Test("a send error that closes the UDP socket is counted, the socket is bound again, and the node keeps working")
    func udpSocketSurvivesSendErrors() async throws {
        let a = try GossipNode(configuration: config("a"))
        let b = try GossipNode(configuration: config("b"))
        let probe = try await DatagramProbe.bind()
        do {
            try await a.start()
            try await b.start()
            let aAddress = await a.statistics().address
            _ = try await b.join([aAddress])
            try await waitUntil(a, "b alive") { status(of: "b", in: $0) == .alive }
            let ping: [Message] = [.ping(Ping(sequence: 1, target: "a", source: "t", sourceAddress: probe.address))]

            // Past the destination checks, the kernel refuses these: an IPv6 destination on an
            // IPv4 socket, and the limited broadcast without SO_BROADCAST. NIO closes the socket.
            await a.sendUncheckedDatagram(ping, to: Address(ipv6High: 0, low: 1, port: aAddress.port))
            let afterFirst = try await waitForStatistics(a, "first rebind") { $0.udpRebinds >= 1 }
            #expect(afterFirst.transport.udpSendErrors["address_unusable"] == 1, "\(afterFirst.transport)")
            await a.sendUncheckedDatagram(ping, to: Address(ipv4: 0xffff_ffff, port: aAddress.port))
            let afterSecond = try await waitForStatistics(a, "second rebind") { $0.udpRebinds >= 2 }
            #expect(afterSecond.transport.udpSendErrors["not_permitted"] == 1, "\(afterSecond.transport)")
            #expect(afterSecond.udpRebinds == 2)

            // The same port answers a ping again...
            let ack = try await probe.exchange(ping, with: aAddress)
            #expect(ack.contains(.ack(Ack(sequence: 1))))
            // ...and probing goes on: acks from b keep arriving at a.
            let acks = afterSecond.udpAcks
            _ = try await waitForStatistics(a, "acks after the rebinds") { $0.udpAcks > acks }
            #expect(status(of: "b", in: a.members) == .alive)
            #expect(status(of: "a", in: b.members) == .alive)
        } catch {
            Issue.record(error)
        }
        await probe.close()
        await a.stop()
        await b.stop()
    }

    @Test("members at addresses the node cannot send to are refused, not sent to; the socket stays")
    func unusableMemberAddressesAreRefused() async throws {
        let a = try GossipNode(configuration: config("a"))
        let b = try GossipNode(configuration: config("b"))
        let probe = try await DatagramProbe.bind()
        do {
            try await a.start()
            try await b.start()
            let aAddress = await a.statistics().address
            _ = try await b.join([aAddress])
            try await waitUntil(a, "b alive") { status(of: "b", in: $0) == .alive }
            func alive(_ name: String, _ address: Address) -> Message {
                .alive(Alive(incarnation: 1, name: name, address: address, tags: Tags()))
            }
            // One datagram per fake member, as an attacker (or a misconfigured member) would send.
            let fakes: [Message] = [
                alive("v6", Address(ipv6High: 0, low: 1, port: 7946)),
                alive("limited-broadcast", Address(ipv4: 0xffff_ffff, port: 7946)),
                alive("port-zero", Address(ipv4: 0x7f00_0001, port: 0)),
                // A loopback address to the core, the broadcast address of lo to the kernel.
                alive("lo-broadcast", Address(ipv4: 0x7fff_ffff, port: 7946)),
            ]
            for fake in fakes { try await probe.send([fake], to: aAddress) }
            let stats = try await waitForStatistics(a, "the lo broadcast refused") {
                $0.core.refusals[.unusableAddress] >= 3 && ($0.transport.udpSendsRefused["broadcast"] ?? 0) >= 1
            }
            #expect(stats.udpRebinds == 0)
            #expect(stats.transport.udpSendErrors.isEmpty, "\(stats.transport.udpSendErrors)")
            let ack = try await probe.exchange(
                [.ping(Ping(sequence: 7, target: "a", source: "t", sourceAddress: probe.address))], with: aAddress)
            #expect(ack.contains(.ack(Ack(sequence: 7))))
            let acks = stats.udpAcks
            _ = try await waitForStatistics(a, "acks from b") { $0.udpAcks > acks }
            #expect(status(of: "b", in: a.members) == .alive)
        } catch {
            Issue.record(error)
        }
        await probe.close()
        await a.stop()
        await b.stop()
    }

    @Test("inbound connections beyond the per-host and total limits are closed and counted")
    func connectionLimits() async throws {
        var c = config("server")
        c.maxInboundConnections = 4
        c.maxInboundConnectionsPerHost = 2
        let server = try GossipNode(configuration: c)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var open: [any Channel] = []
        do {
            try await server.start()
            let address = await server.statistics().address
            for host in ["127.0.0.2", "127.0.0.2"] {
                open.append(try await connect(from: host, to: address, group: group))
            }
            _ = try await waitForStatistics(server, "2 inbound") { $0.transport.inboundConnections == 2 }
            #expect(await refused(from: "127.0.0.2", to: address, group: group), "the 3rd connection from one host stays open")
            for host in ["127.0.0.3", "127.0.0.3"] {
                open.append(try await connect(from: host, to: address, group: group))
            }
            _ = try await waitForStatistics(server, "4 inbound") { $0.transport.inboundConnections == 4 }
            #expect(await refused(from: "127.0.0.4", to: address, group: group), "the 5th connection stays open")
            let stats = await server.statistics()
            #expect(stats.transport.streamsRefused["host_connection_limit"] == 1)
            #expect(stats.transport.streamsRefused["connection_limit"] == 1)
            #expect(stats.transport.inboundConnections == 4)
            for ch in open { try? await ch.close() }
            open = []
            _ = try await waitForStatistics(server, "slots given back") { $0.transport.inboundConnections == 0 }
        } catch {
            Issue.record(error)
        }
        for ch in open { try? await ch.close() }
        await server.stop()
        try? await group.shutdownGracefully()
    }

    @Test("buffered bytes are bounded per host and in total, reserved from the frame header; oversize headers are cut at once")
    func bufferedBytesBounded() async throws {
        var c = config("server")
        c.maxFrameSize = 64 << 10
        c.maxStreamBufferedBytesPerHost = 100_000
        c.maxStreamBufferedBytes = 150_000
        let server = try GossipNode(configuration: c)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var open: [any Channel] = []
        let frame = (64 << 10) + StreamCodec.prefixSize
        do {
            try await server.start()
            let address = await server.statistics().address
            /// A frame header announcing `length` bytes, and nothing after it.
            func announce(_ length: UInt32, from host: String) async throws -> any Channel {
                let ch = try await connect(from: host, to: address, group: group)
                var header = ch.allocator.buffer(capacity: 6)
                header.writeInteger(WireLimits.version)
                header.writeInteger(UInt8(0))
                header.writeInteger(length)
                try await ch.writeAndFlush(header)
                return ch
            }
            open.append(try await announce(64 << 10, from: "127.0.0.2"))
            _ = try await waitForStatistics(server, "one frame reserved") { $0.transport.streamBufferedBytes == frame }
            let overHost = try await announce(64 << 10, from: "127.0.0.2")
            #expect(await closes(overHost))
            open.append(try await announce(64 << 10, from: "127.0.0.3"))
            _ = try await waitForStatistics(server, "two frames reserved") { $0.transport.streamBufferedBytes == 2 * frame }
            let overTotal = try await announce(64 << 10, from: "127.0.0.4")
            #expect(await closes(overTotal))
            let oversize = try await announce(1 << 20, from: "127.0.0.5")
            #expect(await closes(oversize))
            let stats = await server.statistics()
            #expect(stats.transport.streamsRefused["host_buffer_limit"] == 1)
            #expect(stats.transport.streamsRefused["buffer_limit"] == 1)
            #expect(stats.transport.streamsRefused["frame_too_large"] == 1)
            #expect(stats.wire[.frameTooLarge] == 1)
            #expect(stats.transport.streamBufferedBytes == 2 * frame)
            for ch in open { try? await ch.close() }
            open = []
            _ = try await waitForStatistics(server, "bytes given back") { $0.transport.streamBufferedBytes == 0 }
        } catch {
            Issue.record(error)
        }
        for ch in open { try? await ch.close() }
        await server.stop()
        try? await group.shutdownGracefully()
    }

    @Test("an inbound connection that sends no complete frame in time is closed, however it trickles")
    func firstFrameDeadline() async throws {
        var c = config("server")
        c.streamFirstFrameTimeout = .milliseconds(300)
        let server = try GossipNode(configuration: c)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            try await server.start()
            let address = await server.statistics().address
            let ch = try await connect(from: "127.0.0.2", to: address, group: group)
            var partial = ch.allocator.buffer(capacity: 3)
            partial.writeBytes([WireLimits.version, 0, 0])
            // On a loaded machine the deadline can pass before this write: the server has then
            // closed the connection already, which is the outcome under test, so a write that
            // fails on the closed channel is not an error (the counter below says why it closed).
            try? await ch.writeAndFlush(partial)
            #expect(await closes(ch))
            let stats = await server.statistics()
            #expect(stats.transport.streamsRefused["first_frame_timeout"] == 1)
        } catch {
            Issue.record(error)
        }
        await server.stop()
        try? await group.shutdownGracefully()
    }

    @Test("a join refused for key or label names the reason per seed; the seed logs why at warning")
    func refusedJoinSaysWhy() async throws {
        let keyA = Keyring(primary: SecretKey.random())
        let keyB = Keyring(primary: SecretKey.random())
        let alpha = ClusterLabel("alpha") ?? .none
        let beta = ClusterLabel("beta") ?? .none
        let cases: [(seed: (Keyring?, ClusterLabel), joiner: (Keyring?, ClusterLabel), seedSays: String)] = [
            ((keyA, .none), (keyB, .none), "sealed with a key this node does not hold"),
            ((nil, alpha), (nil, beta), "cluster label differs"),
            ((keyA, .none), (nil, .none), "plaintext frame but this node requires encryption"),
            ((nil, .none), (keyA, .none), "sealed frame but this node has no key"),
        ]
        for (seedSide, joinerSide, seedSays) in cases {
            let logs = RecordedLogs()
            var seedConfig = config("seed", keyring: seedSide.0, label: seedSide.1)
            seedConfig.logger = logs.logger
            let seed = try GossipNode(configuration: seedConfig)
            let joiner = try GossipNode(configuration: config("joiner", keyring: joinerSide.0, label: joinerSide.1))
            do {
                try await seed.start()
                try await joiner.start()
                let address = await seed.statistics().address
                do {
                    _ = try await joiner.join([address])
                    Issue.record("joined despite \(seedSays)")
                } catch {
                    #expect(error == .joinFailed(seeds: [SeedFailure(seed: address, reason: .closedWithoutAnswer)]))
                    #expect("\(error)".contains("wrong key or cluster label"))
                }
                let warnings = logs.lines(at: .warning)
                #expect(warnings.contains { $0.contains(seedSays) }, "seed logged: \(warnings)")
            } catch {
                Issue.record(error)
            }
            await seed.stop()
            await joiner.stop()
        }
    }

    @Test("a join every seed refuses (another key, another label) ends on the refusals, not at its deadline")
    func refusedJoinEndsEarly() async throws {
        let other = ClusterLabel("other") ?? .none
        let keyed = try GossipNode(configuration: config("keyed", keyring: Keyring(primary: SecretKey.random())))
        let labelled = try GossipNode(configuration: config("labelled", label: other))
        var joinerConfig = config("joiner")
        // Far beyond what the refusals take: a join that waited for it would show.
        joinerConfig.joinTimeout = .seconds(120)
        let joiner = try GossipNode(configuration: joinerConfig)
        do {
            for n in [keyed, labelled, joiner] { try await n.start() }
            let seeds = [await keyed.statistics().address, await labelled.statistics().address]
            let clock = ContinuousClock()
            let began = clock.now
            do {
                _ = try await joiner.join(seeds)
                Issue.record("joined seeds that refuse it")
            } catch {
                #expect(error == .joinFailed(seeds: seeds.map { SeedFailure(seed: $0, reason: .closedWithoutAnswer) }))
            }
            #expect(clock.now - began < joinerConfig.joinTimeout, "the join waited for its deadline")
        } catch {
            Issue.record(error)
        }
        for n in [keyed, labelled, joiner] { await n.stop() }
    }

    @Test("a seed over its connection limit resets the joiner's connection, and the join gets in once a slot is free")
    func busySeedIsRetried() async throws {
        var c = config("seed")
        c.maxInboundConnectionsPerHost = 1
        let seed = try GossipNode(configuration: c)
        let joiner = try GossipNode(configuration: config("joiner"))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var holder: (any Channel)?
        do {
            try await seed.start()
            try await joiner.start()
            let address = await seed.statistics().address
            // The joiner's host's one slot, taken.
            holder = try await connect(from: "127.0.0.1", to: address, group: group)
            _ = try await waitForStatistics(seed, "the slot taken") { $0.transport.inboundConnections == 1 }
            let join = Task { try await joiner.join([address]) }
            _ = try await waitForStatistics(seed, "the joiner refused") { $0.transport.streamsRefused["host_connection_limit", default: 0] > 0 }
            try await holder?.close()
            holder = nil
            #expect(try await join.value == 1)
            #expect(joiner.members.count == 2)
        } catch {
            Issue.record(error)
        }
        try? await holder?.close()
        await seed.stop()
        await joiner.stop()
        try? await group.shutdownGracefully()
    }

    @Test("a join says per seed what went wrong: nothing listening, an unusable address")
    func joinErrorPerSeed() async throws {
        let gone = try GossipNode(configuration: config("gone"))
        try await gone.start()
        let goneAddress = await gone.statistics().address
        await gone.stop()
        let joiner = try GossipNode(configuration: config("joiner"))
        do {
            try await joiner.start()
            let v6 = Address(ipv6High: 0, low: 1, port: 7946)
            do {
                _ = try await joiner.join([goneAddress, v6])
                Issue.record("joined nothing")
            } catch {
                #expect(
                    error
                        == .joinFailed(seeds: [
                            SeedFailure(seed: goneAddress, reason: .connectionRefused),
                            SeedFailure(seed: v6, reason: .unusableAddress(DestinationPolicy.Refusal.wrongFamily.description)),
                        ]))
            }
        } catch {
            Issue.record(error)
        }
        await joiner.stop()
    }

    @Test("a member restarted at another address is taken at once: the seed asks the old address, which no longer answers")
    func restartAtNewAddressJoins() async throws {
        let a = try GossipNode(configuration: config("a"))
        let b = try GossipNode(configuration: config("b"))
        let restarted = try GossipNode(configuration: config("b"))
        do {
            try await a.start()
            try await b.start()
            let aAddress = await a.statistics().address
            let oldAddress = await b.statistics().address
            _ = try await b.join([aAddress])
            try await waitUntil(a, "b alive") { status(of: "b", in: $0) == .alive }
            // Gone without a goodbye, as a process is when its host is renumbered and it restarts.
            await b.stop()
            try await restarted.start()
            let newAddress = await restarted.statistics().address
            #expect(newAddress != oldAddress)
            #expect(try await restarted.join([aAddress]) == 1)
            try await waitUntil(a, "b alive at its new address") { members in
                members.contains { $0.name == "b" && $0.address == newAddress && $0.status == .alive }
            }
            let stats = await a.statistics()
            #expect(stats.core.contests >= 1)
        } catch {
            Issue.record(error)
        }
        await restarted.stop()
        await b.stop()
        await a.stop()
    }

    @Test("a second live member with a taken name is refused at join, naming where the name lives")
    func nameTakenAtJoin() async throws {
        let metrics = RecordingMetrics()
        let a = try GossipNode(configuration: config("a"))
        let b = try GossipNode(configuration: config("b"))
        var impostorConfig = config("b")
        impostorConfig.metricsFactory = metrics
        let impostor = try GossipNode(configuration: impostorConfig)
        do {
            try await a.start()
            try await b.start()
            try await impostor.start()
            let aAddress = await a.statistics().address
            let bAddress = await b.statistics().address
            _ = try await b.join([aAddress])
            try await waitUntil(a, "b alive") { status(of: "b", in: $0) == .alive }
            do {
                _ = try await impostor.join([aAddress])
                Issue.record("joined under a taken name")
            } catch {
                #expect(error == .nameConflict(name: "b", heldAt: bAddress))
            }
            // Asked to prove itself, the live holder refuted: still alive where it was.
            #expect(status(of: "b", in: a.members) == .alive)
            #expect(a.members.first { $0.name == "b" }?.address == bAddress)
            #expect(b.members.allSatisfy { $0.status == .alive })
        } catch {
            Issue.record(error)
        }
        await impostor.stop()
        await b.stop()
        await a.stop()
        // The newcomer counts and exports the conflict (stopping flushes the metrics).
        #expect(metrics.value("gossip_refused_total", [("reason", "name_conflict")]) >= 1)
        #expect(metrics.value("gossip_name_conflicts_total") >= 1)
    }
}

// MARK: helpers

/// A plain TCP connection from `host` (any 127.0.0.0/8 address is this machine).
func connect(from host: String, to address: Address, group: any EventLoopGroup) async throws -> any Channel {
    try await ClientBootstrap(group: group)
        .bind(to: try SocketAddress(ipAddress: host, port: 0))
        .connect(to: try SocketAddress(address))
        .get()
}

/// Whether a connection from `host` is refused: reset (a busy node resets at once, which may
/// reach the connect itself) or closed within a generous bound.
func refused(from host: String, to address: Address, group: any EventLoopGroup) async -> Bool {
    do {
        return await closes(try await connect(from: host, to: address, group: group))
    } catch {
        return true
    }
}

/// Whether the other side closes `channel` within a generous bound.
func closes(_ channel: any Channel, within timeout: Duration = .seconds(10)) async -> Bool {
    await firstTrue(within: timeout) {
        try? await channel.closeFuture.get()
        return true
    }
}

/// A UDP socket on 127.0.0.1 that speaks the plaintext packet format.
final class DatagramProbe: Sendable {
    let channel: any Channel
    let address: Address
    let received: AsyncStream<AddressedEnvelope<ByteBuffer>>

    private init(channel: any Channel, received: AsyncStream<AddressedEnvelope<ByteBuffer>>) {
        self.channel = channel
        self.received = received
        self.address = channel.localAddress.flatMap(Address.init) ?? Address(ipv4: 0x7f00_0001, port: 0)
    }

    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let continuation: AsyncStream<AddressedEnvelope<ByteBuffer>>.Continuation
        init(_ continuation: AsyncStream<AddressedEnvelope<ByteBuffer>>.Continuation) { self.continuation = continuation }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { continuation.yield(unwrapInboundIn(data)) }
        func channelInactive(context: ChannelHandlerContext) { continuation.finish() }
    }

    static func bind() async throws -> DatagramProbe {
        let (stream, continuation) = AsyncStream.makeStream(of: AddressedEnvelope<ByteBuffer>.self)
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(Collector(continuation)) }
            }
            .bind(host: dottedQuad(freshLoopbackIPv4()), port: 0)
            .get()
        return DatagramProbe(channel: channel, received: stream)
    }

    func send(_ messages: [Message], to: Address) async throws {
        var buffer = channel.allocator.buffer(capacity: 1500)
        try PacketCodec(keyring: nil).encode(messages, into: &buffer, budget: 1400)
        try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: try SocketAddress(to), data: buffer))
    }

    /// Sends `messages` and returns the messages of the first datagram that comes back from `peer`.
    func exchange(_ messages: [Message], with peer: Address, timeout: Duration = .seconds(10)) async throws -> [Message] {
        try await send(messages, to: peer)
        let answer = NIOLockedValueBox<[Message]>([])
        let got = await firstTrue(within: timeout) {
            for await envelope in self.received where Address(envelope.remoteAddress) == peer {
                var data = envelope.data
                var decoded: [Message] = []
                var codec = PacketCodec(keyring: nil)
                if codec.decode(&data, into: &decoded) {
                    answer.withLockedValue { $0 = decoded }
                    return true
                }
            }
            return false
        }
        if !got { throw TimedOut(description: "no answer from \(peer)") }
        return answer.withLockedValue { $0 }
    }

    func close() async {
        try? await channel.close()
    }
}

/// Keeps what a logger was told, for tests that check what an operator would see.
final class RecordedLogs: Sendable {
    private let entries = NIOLockedValueBox<[(Logger.Level, String)]>([])

    var logger: Logger {
        var l = Logger(label: "recorded") { _ in Handler(logs: self) }
        l.logLevel = .info
        return l
    }

    func lines(at level: Logger.Level) -> [String] {
        entries.withLockedValue { $0.filter { $0.0 == level }.map(\.1) }
    }

    struct Handler: LogHandler {
        let logs: RecordedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            logs.entries.withLockedValue { $0.append((event.level, "\(event.message)")) }
        }
    }
}
