import GossipCore
import GossipWire
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// TCP: outbound requests, inbound connections within the `StreamBudget`, frames to the core.
extension NodeRuntime {
    /// One connection per message: connect, write one frame, close. Replies come back the same
    /// way to the sender's advertised address, so both sides run the same code.
    func sendStream(_ message: StreamMessage, to: Address) {
        var frame = ByteBuffer()
        do {
            try streamCodec.encode(.stream(message), into: &frame)
        } catch {
            logger.warning(
                "stream message not sent: \(error)", metadata: ["gossip.peer.address": "\(to)", "gossip.error": "\(error)"])
            streamFailed(to, reason: .connectionFailed("the message does not fit in one frame (\(error))"))
            return
        }
        if let refusal = destinationPolicy.check(to), refusal.concernsStreams {
            streamFailed(to, reason: .unusableAddress(refusal.description))
            return
        }
        guard let target = try? SocketAddress(to) else {
            streamFailed(to, reason: .unusableAddress("not an IP address"))
            return
        }
        let me = NIOLoopBound(self, eventLoop: loop)
        let request = NIOLoopBound(OutboundStream(target: to, frame: frame), eventLoop: loop)
        let timeouts = streamTimeouts
        ClientBootstrap(group: loop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        StreamHandler(runtime: me.value, role: .outbound(request.value), timeouts: timeouts))
                }
            }
            .connect(to: target)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    self.streamFailed(to, reason: SeedFailure.Reason(connectError: error), error: error)
                case .success(let channel):
                    channel.writeAndFlush(frame).assumeIsolated().whenComplete { written in
                        channel.close(promise: nil)
                        switch written {
                        case .failure(let error):
                            self.streamFailed(to, reason: .connectionFailed("\(error)"), error: error)
                        case .success:
                            self.recordSeedOutcome(to, .noAnswer)
                        }
                    }
                }
            }
    }

    func streamFailed(_ to: Address, reason: SeedFailure.Reason, error: (any Error)? = nil) {
        guard isActive else { return }
        metrics.pendingStreamFailures += 1
        recordSeedOutcome(to, reason)
        logger.debug(
            "stream connection failed",
            metadata: ["gossip.peer.address": "\(to)", "gossip.reason": "\(reason)", "gossip.error": "\(error.map { "\($0)" } ?? "-")"])
        handle(.streamFailed(to: to))
    }

    func recordSeedOutcome(_ address: Address, _ reason: SeedFailure.Reason) {
        guard joinSeeds.contains(address) else { return }
        seedOutcomes[address] = reason
    }

    // MARK: frames

    func readFrame(_ buffer: inout ByteBuffer, handler: StreamHandler) -> FrameOutcome {
        guard isActive, let peer = handler.peer else { return .refused(nil) }
        do {
            switch try streamCodec.decode(&buffer) {
            case .needMoreData:
                return .needMoreData
            case .skipped(let type):
                logger.debug(
                    "skipped stream frame of unknown type", metadata: ["gossip.peer.address": "\(peer)", "gossip.type": "\(type)"])
                return .delivered
            case .item(.stream(let message)):
                streamMessagesIn += 1
                udpSilence.streamReceived()
                handle(.stream(from: peer, message))
                return .delivered
            case .item(.message(let message)):
                handle(.datagram(from: peer, messages: [message]))
                return .delivered
            }
        } catch {
            refusedFromNetwork(error, from: peer, what: "TCP frame")
            if case .frameTooLarge = error { return .refused(.frameTooLarge) }
            return .refused(nil)
        }
    }

    // MARK: connections

    func connectionOpened(_ channel: any Channel) {
        if phase == .stopping || phase == .stopped {
            channel.close(promise: nil)
            return
        }
        connections[ObjectIdentifier(channel)] = channel
    }

    /// Takes an inbound slot for a connection just accepted, or says why it must close.
    func admitInbound(from peer: Address?, handler: StreamHandler) -> StreamBudget.Refusal? {
        let host = peer?.host ?? Address(ipv4: 0, port: 0)
        if let refusal = streamBudget.admit(from: host) { return refusal }
        handler.admitted = true
        return nil
    }

    /// Moves a connection's reservation of buffered bytes to `bytes`; a refusal leaves it.
    func reserve(for handler: StreamHandler, bytes: Int) -> StreamBudget.Refusal? {
        guard bytes != handler.reserved else { return nil }
        let host = handler.peer?.host ?? Address(ipv4: 0, port: 0)
        if let refusal = streamBudget.reserve(for: host, from: handler.reserved, to: bytes) { return refusal }
        handler.setReserved(bytes)
        return nil
    }

    /// The handler closed a connection for `reason`: counted, and logged rate-limited per host
    /// when it is a limit an attacker (or a misconfigured peer) ran into.
    func streamClosed(_ reason: StreamBudget.Refusal, peer: Address?, inbound: Bool) {
        transport.streamsRefused[reason.rawValue, default: 0] += 1
        metrics.streamRefused(reason)
        let peerText = peer.map { "\($0)" } ?? "?"
        switch reason {
        case .idleTimeout, .lifetime:
            logger.debug(
                "closed a stream connection: \(reason)", metadata: ["gossip.peer.address": "\(peerText)", "gossip.inbound": "\(inbound)"])
        default:
            if streamRefusalReports.record(peer?.host ?? Address(ipv4: 0, port: 0), reason: reason.rawValue) == .report {
                logger.warning(
                    "closed \(inbound ? "inbound" : "outbound") stream connection from \(peerText): \(reason)",
                    metadata: ["gossip.peer.address": "\(peerText)", "gossip.reason": "\(reason.rawValue)"])
            }
        }
    }

    func connectionClosed(_ channel: any Channel, handler: StreamHandler) {
        connections[ObjectIdentifier(channel)] = nil
        let host = handler.peer?.host ?? Address(ipv4: 0, port: 0)
        _ = streamBudget.reserve(for: host, from: handler.reserved, to: 0)
        if handler.admitted { streamBudget.release(inboundFrom: host) }
    }
}

extension DestinationPolicy.Refusal {
    /// Whether the rule holds for TCP too. A TCP connection has its own socket of the right
    /// family and source, so family and loopback rules do not apply, and a failed connect
    /// harms nothing else.
    var concernsStreams: Bool {
        switch self {
        case .portZero, .unspecified, .broadcast, .multicast, .reserved, .linkLocal: true
        case .wrongFamily, .notLoopback, .recentlyFailed: false
        }
    }
}

extension SeedFailure.Reason {
    init(connectError error: any Error) {
        switch error {
        case let e as IOError where e.errnoCode == ECONNREFUSED: self = .connectionRefused
        case let e as IOError where e.errnoCode == ETIMEDOUT: self = .timedOut
        case ChannelError.connectTimeout: self = .timedOut
        default: self = .connectionFailed("\(error)")
        }
    }
}
