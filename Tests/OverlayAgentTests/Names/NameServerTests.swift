import Addresses
import DNS
import Logging
import Metrics
import NIOCore
import NIOPosix
import Overlay
import Testing
@testable import OverlayAgent

/// The name server on loopback sockets: overlay names answered from the table, other names
/// relayed through an upstream stub, a table update seen by the next query.
@Suite struct NameServerTests {
    /// A stub upstream resolver on 127.0.0.1: answers every query with one A record 192.0.2.7
    /// (TEST-NET-1), echoing the ID, and counts what it was asked.
    final class Upstream: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        typealias OutboundOut = AddressedEnvelope<ByteBuffer>
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            guard var m = try? DNSMessage.decode(envelope.data), let q = m.questions.first else { return }
            m.flags.response = true
            m.answers = [DNSRecord(name: q.name, type: DNSType.a, ttl: 60, data: [192, 0, 2, 7])]
            var out = ByteBuffer()
            try? m.encode(into: &out)
            context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: out)), promise: nil)
        }
    }

    /// Collects answers to a client socket.
    final class Answers: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let stream: AsyncStream<DNSMessage>
        let continuation: AsyncStream<DNSMessage>.Continuation
        init() { (stream, continuation) = AsyncStream.makeStream() }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if let m = try? DNSMessage.decode(unwrapInboundIn(data).data) { continuation.yield(m) }
        }
    }

    static func bind(_ handler: some ChannelHandler & Sendable) async throws -> any Channel {
        try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    @Test func answersOverlayNamesAndRelaysTheRest() async throws {
        let upstream = try await Self.bind(Upstream())
        let answers = Answers()
        let client = try await Self.bind(answers)
        // The client's loopback address stands for a container's: the network 127.0.0.0/8
        // is not a valid overlay subnet, so the container row itself places it.
        let server = NameServer(
            settings: .init(listen: try SocketAddress(ipAddress: "127.0.0.1", port: 0), upstreams: [upstream.localAddress!]),
            logger: Logger(label: "test"), metrics: NOOPMetricsHandler.instance)
        let (listening, ready) = AsyncStream.makeStream(of: Void.self)
        let serving = Task { try await server.run(onListening: { ready.yield() }) }
        for await _ in listening { break }
        defer { serving.cancel() }

        let vni = VNI(4100)!
        var replica = Replica()
        replica.add(.host(vtep: IPAddress("192.168.0.1")!, networks: [vni]), owner: "h1", live: true)
        replica.insert(Endpoint(network: vni, mac: MACAddress("02:42:0a:01:00:02")!, ipv4: IPAddress("10.1.0.2"), name: "c0",
                                claim: Claim(time: 1, owner: "h1")))
        // The asker: a container whose overlay address is the client socket's, 127.0.0.1 (no
        // row carries a loopback address; Replica.insert does not check, which this uses).
        let asker = MACAddress("02:42:7f:00:00:01")!
        replica.insert(Endpoint(network: vni, mac: asker, ipv4: IPAddress("127.0.0.1"), name: "asker",
                                claim: Claim(time: 1, owner: "h2")))
        server.update(NameTable(replica: replica))
        let target = server.boundAddress!
        var iterator = answers.stream.makeAsyncIterator()

        try await client.writeAndFlush(AddressedEnvelope(remoteAddress: target, data: NameTableTests.query("c0", id: 1)))
        let local = await iterator.next()
        #expect(local?.id == 1 && local?.flags.authoritative == true)
        #expect(local?.answers.map(\.data) == [[10, 1, 0, 2]])

        // Not the overlay's: relayed from the upstream, with the asker's ID.
        try await client.writeAndFlush(AddressedEnvelope(remoteAddress: target, data: NameTableTests.query("example.org", id: 2)))
        let relayed = await iterator.next()
        #expect(relayed?.id == 2 && relayed?.flags.authoritative == false)
        #expect(relayed?.answers.map(\.data) == [[192, 0, 2, 7]])

        // c0's row withdrawn: the next query no longer gets the overlay's answer.
        replica.removeEndpoint(owner: "h1", network: vni, mac: MACAddress("02:42:0a:01:00:02")!)
        server.update(NameTable(replica: replica))
        try await client.writeAndFlush(AddressedEnvelope(remoteAddress: target, data: NameTableTests.query("c0", id: 3)))
        let gone = await iterator.next()
        #expect(gone?.id == 3)
        #expect(gone?.answers.map(\.data) == [[192, 0, 2, 7]])

        // A malformed query: FORMERR, and the server still answers after it.
        try await client.writeAndFlush(AddressedEnvelope(
            remoteAddress: target, data: ByteBuffer(bytes: [0, 4, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1])))
        let refused = await iterator.next()
        #expect(refused?.id == 4 && refused?.flags.responseCode == DNSResponseCode.formatError)

        try? await client.close()
        try? await upstream.close()
    }
}
