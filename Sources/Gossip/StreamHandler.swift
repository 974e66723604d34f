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
    /// The core's id for an outbound conversation; nil on an accepted connection until it is
    /// given an inbound id.
    private var conversation: ConversationID?
    private var answered = false

    /// `conversation` is the core's id when this node opened the connection; nil when it accepted it.
    init(runtime: NodeRuntime, timeout: TimeAmount, conversation: ConversationID? = nil) {
        self.runtime = runtime
        self.timeout = timeout
        self.conversation = conversation
    }

    func handlerAdded(context: ChannelHandlerContext) {
        runtime.connectionOpened(context.channel)
        if context.channel.isActive { activate(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        runtime.connectionClosed(context.channel, conversation: conversation, answered: answered)
    }

    func channelActive(context: ChannelHandlerContext) {
        activate(context)
        context.fireChannelActive()
    }

    private func activate(_ context: ChannelHandlerContext) {
        guard !activated else { return }
        activated = true
        if conversation == nil { conversation = runtime.inboundConversation() }
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
        guard let conversation else { return }
        while true {
            switch runtime.readFrame(&buf, from: peer, conversation: conversation, channel: context.channel) {
            case .needMoreData:
                return
            case .delivered:
                // An outbound conversation has its reply: done.
                if !conversation.isInbound {
                    answered = true
                    buf.clear()
                    context.close(promise: nil)
                    return
                }
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
