import Gossip
import GossipCore
import GossipWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// Collects the push/pull frames a node writes on one connection, until the last.
private final class FrameCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    let codec: StreamCodec
    let buffered = NIOLockedValueBox(ByteBuffer())
    let frames: AsyncStream<PushPull>.Continuation

    init(maxFrameSize: Int, frames: AsyncStream<PushPull>.Continuation) {
        codec = StreamCodec(keyring: nil, maxFrameSize: maxFrameSize)
        self.frames = frames
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffered.withLockedValue { buffer in
            buffer.writeBuffer(&incoming)
            while case .item(.stream(.pushPull(let p)))? = try? codec.decodeUncounted(&buffer) {
                frames.yield(p)
                if !p.more { frames.finish() }
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) { frames.finish() }
}

extension GossipRuntimeTests {
    /// With the frame cap at its 64 KiB minimum, 8,000 members (about 120 KB) take several
    /// frames each way: the request's frames are merged as they come, and the reply's frames
    /// come back on the same connection until the last.
    @Test("state larger than one frame is exchanged both ways on one connection")
    func stateLargerThanOneFrame() async throws {
        let cap = 64 << 10
        var c = config("big")
        c.maxFrameSize = cap
        c.settings.maxMembersLearnedPerExchange = 10_000
        let node = try GossipNode(configuration: c)
        do {
            try await node.start()
            let target = await node.statistics().address
            let fakes = (0..<8_000).map { i in
                MemberState(name: "f\(i)", address: unusedLoopback(i), incarnation: 1, status: .alive, tags: Tags())
            }
            let sections = stride(from: 0, to: fakes.count, by: 1_000).map { PushPullSection.members(Array(fakes[$0..<($0 + 1_000)])) }
            let request = try streamFrame(
                .pushPull(PushPull(join: false, isReply: false, sender: "client", senderAddress: unusedLoopback(0xfffe), sections: sections)),
                maxFrameSize: cap)
            var copy = request
            var requestFrames = 0
            while case .item = try StreamCodec(keyring: nil, maxFrameSize: cap).decodeUncounted(&copy) { requestFrames += 1 }
            #expect(requestFrames > 1, "the request takes several frames")

            let (stream, continuation) = AsyncStream.makeStream(of: PushPull.self)
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(3))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(FrameCollector(maxFrameSize: cap, frames: continuation))
                    }
                }
                .connect(to: try socketAddress(target)).get()
            try await channel.writeAndFlush(request)
            var reply: [PushPull] = []
            for await frame in stream { reply.append(frame) }
            channel.close(promise: nil)

            #expect(reply.count > 1, "the reply takes several frames")
            #expect(reply.last?.more == false && reply.dropLast().allSatisfy(\.more))
            #expect(reply.allSatisfy { $0.isReply && $0.sender == "big" })
            let names = Set(reply.flatMap(\.members).map(\.name))
            #expect(names.count == 8_001, "the node and every member the request brought")
            // The reply can reach us before the node publishes its view: wait for the event.
            try await waitUntil(node, "every member the request brought") { $0.count == 8_001 }
        } catch {
            Issue.record(error)
        }
        await node.stop()
    }
}
