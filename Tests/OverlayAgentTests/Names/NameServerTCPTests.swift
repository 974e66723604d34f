import Addresses
import DNS
import GrapevineTestSupport
import Logging
import Metrics
import NIOCore
import NIOPosix
import Overlay
import Synchronization
import Testing
@testable import OverlayAgent

/// DNS over TCP (RFC 7766) on loopback: a UDP answer too large is cut with TC set and the same
/// query over TCP gets every record; connections and query sizes are bounded.
@Suite struct NameServerTCPTests {
    /// Collects the messages a TCP connection receives (each after its two-byte length) and
    /// reports when the server closes it.
    final class StreamAnswers: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let stream: AsyncStream<DNSMessage?>
        let continuation: AsyncStream<DNSMessage?>.Continuation
        let pending = Mutex(ByteBuffer())
        init() { (stream, continuation) = AsyncStream.makeStream() }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var incoming = unwrapInboundIn(data)
            let messages = pending.withLock { buffer -> [DNSMessage?] in
                buffer.writeBuffer(&incoming)
                var out: [DNSMessage?] = []
                while let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self), buffer.readableBytes >= 2 + Int(length) {
                    buffer.moveReaderIndex(forwardBy: 2)
                    out.append(try? DNSMessage.decode(buffer.readSlice(length: Int(length))!))
                }
                return out
            }
            for m in messages { continuation.yield(m) }
        }

        /// nil in the stream: the connection closed.
        func channelInactive(context: ChannelHandlerContext) {
            continuation.yield(nil)
            continuation.finish()
        }
    }

    static func connect(_ address: SocketAddress, _ handler: StreamAnswers) async throws -> any Channel {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .connect(to: address).get()
    }

    static func framed(_ message: ByteBuffer) -> ByteBuffer {
        var out = ByteBuffer()
        out.writeInteger(UInt16(message.readableBytes))
        out.writeImmutableBuffer(message)
        return out
    }

    /// A server on 127.0.0.1 with `holders` containers holding the alias "many", one of them
    /// the asker at 127.0.0.1, and one upstream (`NameServerTests.Upstream`).
    static func serve(_ settings: (inout NameServer.Settings) -> Void = { _ in }, holders: Int,
                      _ body: (NameServer, SocketAddress) async throws -> Void) async throws {
        let upstream = try await NameServerTests.bind(NameServerTests.Upstream())
        var s = NameServer.Settings(listen: try SocketAddress(ipAddress: "127.0.0.1", port: 0), upstreams: [upstream.localAddress!])
        settings(&s)
        let server = NameServer(settings: s, logger: Logger(label: "test"), metrics: NOOPMetricsHandler.instance)
        let (listening, ready) = AsyncStream.makeStream(of: Void.self)
        let serving = Task { try await server.run(onListening: { ready.yield() }) }
        for await _ in listening { break }
        let vni = VNI(4100)!
        var replica = Replica()
        replica.add(.host(vtep: IPAddress("192.168.0.1")!, networks: [vni]), owner: "h1", live: true)
        replica.insert(Endpoint(network: vni, mac: MACAddress("02:42:7f:00:00:01")!, ipv4: IPAddress("127.0.0.1"), name: "asker",
                                claim: Claim(time: 1, owner: "h2")))
        for i in 0..<holders {
            replica.insert(Endpoint(network: vni, mac: MACAddress(value: 0x0242_0a01_0000 | UInt64(i + 2)), ipv4: .v4(0x0a01_0000 | UInt32(i + 2)),
                                    name: "w\(i)", aliases: ["many"], claim: Claim(time: 1, owner: "h1")))
        }
        server.update(NameTable(replica: replica))
        do { try await body(server, server.boundAddress!) } catch {
            serving.cancel()
            try? await upstream.close()
            throw error
        }
        serving.cancel()
        try? await upstream.close()
    }

    @Test func aTooLargeUDPAnswerIsCutWithTCAndTCPCarriesItWhole() async throws {
        try await Self.serve(holders: 200) { server, address in
            // UDP: cut at 512 bytes, TC set.
            let answers = NameServerTests.Answers()
            let client = try await NameServerTests.bind(answers)
            var udp = answers.stream.makeAsyncIterator()
            try await client.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: NameTableTests.query("many", id: 7)))
            let cut = await udp.next()
            #expect(cut?.id == 7 && cut?.flags.truncated == true)
            #expect(cut.map { $0.answers.count < 200 } == true)
            try? await client.close()

            // TCP, same port: every holder, TC clear; two queries on one connection.
            let handler = StreamAnswers()
            let connection = try await Self.connect(address, handler)
            var tcp = handler.stream.makeAsyncIterator()
            try await connection.writeAndFlush(Self.framed(NameTableTests.query("many", id: 8)))
            let whole = await tcp.next() ?? nil
            #expect(whole?.id == 8 && whole?.flags.truncated == false)
            #expect(whole?.answers.count == 200)
            #expect(Set(whole?.answers.map(\.data) ?? []).count == 200)
            // Not the overlay's: relayed from the upstream onto the connection.
            try await connection.writeAndFlush(Self.framed(NameTableTests.query("example.org", id: 9)))
            let relayed = await tcp.next() ?? nil
            #expect(relayed?.id == 9 && relayed?.answers.map(\.data) == [[192, 0, 2, 7]])
            try? await connection.close()
        }
    }

    @Test func connectionsAndQuerySizesAreBounded() async throws {
        try await Self.serve({ $0.maxConnections = 2 }, holders: 1) { server, address in
            let first = StreamAnswers(), second = StreamAnswers(), third = StreamAnswers()
            let a = try await Self.connect(address, first)
            let b = try await Self.connect(address, second)
            // Both admitted: each answers.
            for (channel, handler, id) in [(a, first, UInt16(1)), (b, second, UInt16(2))] {
                try await channel.writeAndFlush(Self.framed(NameTableTests.query("w0", id: id)))
                var it = handler.stream.makeAsyncIterator()
                let m = await it.next() ?? nil
                #expect(m?.id == id && m?.answers.count == 1)
            }
            // A third while two are open: closed at once, unanswered.
            let c = try await Self.connect(address, third)
            try? await c.writeAndFlush(Self.framed(NameTableTests.query("w0", id: 3)))
            var it3 = third.stream.makeAsyncIterator()
            #expect(await it3.next() == .some(nil))
            #expect(server.connections == 2)

            // A query longer than the limit: the connection is closed, the server goes on.
            var long = ByteBuffer()
            long.writeInteger(UInt16(server.settings.maxQueryBytes + 1))
            long.writeBytes([UInt8](repeating: 0, count: 64))
            try await a.writeAndFlush(long)
            var itA = first.stream.makeAsyncIterator()
            #expect(await itA.next() == .some(nil))
            try await a.closeFuture.get()
            // Its place is free again.
            try? await b.close()
            try await b.closeFuture.get()
            // The server's side of both closes is counted on its event loop: wait for it.
            for _ in 0..<2_000 where server.connections > 0 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(server.connections == 0)
            let d = StreamAnswers()
            let e = try await Self.connect(address, d)
            try await e.writeAndFlush(Self.framed(NameTableTests.query("w0", id: 4)))
            var itD = d.stream.makeAsyncIterator()
            #expect((await itD.next() ?? nil)?.id == 4)
            try? await e.close()
        }
    }

    @Test func anIdleConnectionIsClosed() async throws {
        try await Self.serve({ $0.tcpIdle = .milliseconds(200) }, holders: 1) { server, address in
            let handler = StreamAnswers()
            let connection = try await Self.connect(address, handler)
            var it = handler.stream.makeAsyncIterator()
            // Closed by the server without a query: the stream ends (no wait of the test's own).
            #expect(await it.next() == .some(nil))
            try await connection.closeFuture.get()
        }
    }

    /// The TCP framing on random streams: messages of random lengths (0 to the limit, and some
    /// over it), sent in random chunks, come out whole and in order, or stop at the first
    /// length over the limit; cut-off input is never taken for a message.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func framingSurvivesAnySplitOfTheStream(seed: UInt64) throws {
        var random = SplitMix(seed: seed)
        let limit = 300
        for _ in 0..<200 {
            var messages: [[UInt8]] = []
            var stream: [UInt8] = []
            var tooLongAt: Int?
            for i in 0..<Int(random.next(below: 8)) {
                let over = random.next(below: 10) == 0
                let length = over ? limit + 1 + Int(random.next(below: 5_000)) : Int(random.next(below: UInt64(limit + 1)))
                let body = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                stream += [UInt8(length >> 8), UInt8(length & 0xff)] + body
                if over, tooLongAt == nil { tooLongAt = i }
                if tooLongAt == nil { messages.append(body) }
            }
            // Sometimes the stream stops part-way through its last message.
            let cut = stream.isEmpty || random.next(below: 3) != 0 ? stream.count : Int(random.next(below: UInt64(stream.count)))
            var buffer = ByteBuffer()
            var out: [[UInt8]] = []
            var threw = false
            var sent = 0
            while sent < cut, !threw {
                let chunk = min(cut - sent, 1 + Int(random.next(below: 64)))
                buffer.writeBytes(stream[sent..<(sent + chunk)])
                sent += chunk
                do {
                    while let m = try StreamFrameDecoder.nextMessage(&buffer, limit: limit) { out.append(Array(m.readableBytesView)) }
                } catch { threw = true }
            }
            // Every message out is the next one sent; all of them when nothing was cut or too
            // long; a throw only once a length over the limit has arrived.
            #expect(out == Array(messages.prefix(out.count)))
            if cut == stream.count, tooLongAt == nil { #expect(out == messages && !threw) }
            if threw { #expect(tooLongAt != nil && out.count == tooLongAt) }
        }
    }
}
