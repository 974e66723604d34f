import GossipCore
import NIOCore
import NIOPosix

/// Binding: the UDP socket and the TCP listener, on one port. Sending and receiving are in
/// `Transport+Datagrams.swift` and `Transport+Streams.swift`.
extension NodeRuntime {
    struct BoundSockets: Sendable {
        var udp: any Channel
        var tcp: any Channel
    }

    /// Binds UDP first, then TCP on the port UDP got; with port 0 another process may hold that
    /// TCP port, so a few fresh ports are tried.
    func bindSockets(attempt: Int) -> EventLoopFuture<BoundSockets> {
        let requested = configuration.bindAddress
        let address: SocketAddress
        do { address = try SocketAddress(requested) } catch { return loop.makeFailedFuture(error) }
        let me = NIOLoopBound(self, eventLoop: loop)
        let timeouts = streamTimeouts
        return bindDatagramChannel(to: address).flatMap { udp in
            var tcpAddress = address
            if let port = udp.localAddress?.port { tcpAddress.port = port }
            return ServerBootstrap(group: udp.eventLoop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 256)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            StreamHandler(runtime: me.value, role: .inbound, timeouts: timeouts))
                    }
                }
                .bind(to: tcpAddress)
                .map { BoundSockets(udp: udp, tcp: $0) }
                .flatMapError { error in
                    udp.close(promise: nil)
                    if requested.port == 0 && attempt < 8 { return me.value.bindSockets(attempt: attempt + 1) }
                    return udp.eventLoop.makeFailedFuture(error)
                }
        }
    }

    var streamTimeouts: StreamTimeouts {
        StreamTimeouts(
            idle: TimeAmount(configuration.streamIdleTimeout), firstFrame: TimeAmount(configuration.streamFirstFrameTimeout),
            lifetime: TimeAmount(configuration.streamMaxLifetime))
    }
}
