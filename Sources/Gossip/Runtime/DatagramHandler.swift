import NIOCore

/// The UDP socket's only handler: hands each datagram to the runtime, on the event loop.
final class DatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let runtime: NodeRuntime
    /// The socket's descriptor, for its error queue; valid while the channel is open.
    private let descriptor: CInt

    init(runtime: NodeRuntime, descriptor: CInt) {
        self.runtime = runtime
        self.descriptor = descriptor
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        runtime.receiveDatagram(envelope.data, from: envelope.remoteAddress)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        runtime.flushDatagrams()
    }

    /// ICMP errors surface here as `ECONNREFUSED` (NIO keeps the socket open for it): the
    /// runtime reads them off the error queue, where the kernel keeps the details. Errors that
    /// close the socket are the runtime's business: it watches the channel and binds it again.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if context.channel.isActive { runtime.readDatagramErrors(descriptor) }
        runtime.logger.debug("udp socket error", metadata: ["gossip.error": "\(error)"])
    }
}
