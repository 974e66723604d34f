import GossipCore
import NIOCore

/// One TCP connection, inbound or outbound: reads frames and hands them to the runtime. A
/// connection lives at most `streamIdleTimeout`, so a peer that stalls cannot pin a socket.
final class StreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let runtime: NodeRuntime
    private let timeout: TimeAmount
    private var buffer: ByteBuffer?
    private var peer: Address?
    private var deadline: Scheduled<Void>?
    private var activated = false

    init(runtime: NodeRuntime, timeout: TimeAmount) {
        self.runtime = runtime
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        runtime.connectionOpened(context.channel)
        if context.channel.isActive { activate(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        runtime.connectionClosed(context.channel)
    }

    func channelActive(context: ChannelHandlerContext) {
        activate(context)
        context.fireChannelActive()
    }

    private func activate(_ context: ChannelHandlerContext) {
        guard !activated else { return }
        activated = true
        peer = context.remoteAddress.flatMap(Address.init)
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        _ = buffer.setOrWriteBuffer(&incoming)
        guard var buf = buffer else { return }
        buffer = nil
        defer {
            if buf.readableBytes > 0 {
                buf.discardReadBytes()
                buffer = buf
            }
        }
        while true {
            switch runtime.readFrame(&buf, from: peer) {
            case .needMoreData:
                return
            case .delivered:
                continue
            case .refused:
                buf.clear()
                context.close(promise: nil)
                return
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        runtime.logger.debug(
            "stream connection error",
            metadata: ["gossip.peer.address": "\(peer.map(\.description) ?? "?")", "gossip.error": "\(error)"])
        context.close(promise: nil)
    }
}
