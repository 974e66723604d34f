import NIOCore

/// The UDP socket's only handler: hands each datagram to the runtime, on the event loop.
final class DatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let runtime: NodeRuntime

    init(runtime: NodeRuntime) { self.runtime = runtime }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        runtime.receiveDatagram(envelope.data, from: envelope.remoteAddress)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        runtime.flushDatagrams()
    }

    /// ICMP "port unreachable" from a departed peer surfaces here (NIO keeps the socket open
    /// for it); a probe timeout already accounts for it. Errors that close the socket are the
    /// runtime's business: it watches the channel and binds it again.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        runtime.logger.debug("udp socket error", metadata: ["gossip.error": "\(error)"])
    }
}
