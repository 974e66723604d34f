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
    /// Opens a connection for one of the core's conversations: the request goes out, and the
    /// reply comes back on the same connection, read by its `StreamHandler`. Whatever ends the
    /// conversation without a reply (encoding, an unusable address, connect, write, the peer
    /// closing, a deadline) becomes `Input.streamFailed` once.
    func sendStream(_ message: StreamMessage, to: Address, conversation: ConversationID) {
        let request = OutboundStream(target: to, conversation: conversation)
        var frame = ByteBuffer()
        do {
            try streamCodec.encode(.stream(message), into: &frame)
        } catch {
            logger.warning(
                "stream message not sent: \(error)", metadata: ["gossip.peer.address": "\(to)", "gossip.error": "\(error)"])
            outboundFailed(request, .connectionFailed("the message does not fit in one frame (\(error))"))
            return
        }
        if let refusal = destinationPolicy.check(to), refusal.concernsStreams {
            outboundFailed(request, .unusableAddress(refusal.description))
            return
        }
        guard let target = try? SocketAddress(to) else {
            outboundFailed(request, .unusableAddress("not an IP address"))
            return
        }
        let me = NIOLoopBound(self, eventLoop: loop)
        let bound = NIOLoopBound(request, eventLoop: loop)
        let timeouts = streamTimeouts
        ClientBootstrap(group: loop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        StreamHandler(runtime: me.value, role: .outbound(bound.value), timeouts: timeouts))
                }
            }
            .connect(to: target)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    self.outboundFailed(request, SeedFailure.Reason(connectError: error), error: error)
                case .success(let channel):
                    channel.writeAndFlush(frame).assumeIsolated().whenComplete { written in
                        switch written {
                        case .failure(let error):
                            self.outboundFailed(request, .connectionFailed("\(error)"), error: error)
                            channel.close(promise: nil)
                        case .success:
                            if request.state == .connecting { request.state = .written }
                        }
                    }
                }
            }
    }

    /// Ends an outbound conversation without a reply: the seed's outcome is recorded (the most
    /// specific reason wins), and the core hears `streamFailed` once.
    func outboundFailed(_ request: OutboundStream, _ reason: SeedFailure.Reason?, error: (any Error)? = nil) {
        if request.state == .answered { return }
        request.state = .failed
        if let reason { recordSeedOutcome(request.target, reason) }
        guard !request.reportedFailure else { return }
        request.reportedFailure = true
        guard isActive else { return }
        metrics.pendingStreamFailures += 1
        logger.debug(
            "stream conversation ended without a reply",
            metadata: [
                "gossip.peer.address": "\(request.target)", "gossip.reason": "\(reason.map { "\($0)" } ?? "-")",
                "gossip.error": "\(error.map { "\($0)" } ?? "-")",
            ])
        handle(.streamFailed(conversation: request.conversation))
    }

    /// Writes the core's answer on the connection its request came in on, then closes it.
    func sendReply(_ message: StreamMessage, conversation: ConversationID) {
        guard let channel = awaitingReply.removeValue(forKey: conversation) else { return }
        var frame = channel.allocator.buffer(capacity: 256)
        do {
            try streamCodec.encode(.stream(message), into: &frame)
        } catch {
            logger.warning("stream reply not sent: \(error)", metadata: ["gossip.error": "\(error)"])
            channel.close(promise: nil)
            handle(.streamFailed(conversation: conversation))
            return
        }
        channel.writeAndFlush(frame).assumeIsolated().whenComplete { written in
            channel.close(promise: nil)
            if case .failure = written, self.isActive { self.handle(.streamFailed(conversation: conversation)) }
        }
    }

    /// A new id for a connection this node accepted.
    func inboundConversation() -> ConversationID {
        nextInbound += 1
        return .inbound(nextInbound)
    }

    // MARK: frames

    func readFrame(_ buffer: inout ByteBuffer, handler: StreamHandler, channel: any Channel) -> FrameOutcome {
        guard isActive, let peer = handler.peer else { return .refused(nil) }
        let item: StreamItem
        do {
            switch try streamCodec.decode(&buffer) {
            case .needMoreData:
                return .needMoreData
            case .skipped(let type):
                logger.debug(
                    "skipped stream frame of unknown type", metadata: ["gossip.peer.address": "\(peer)", "gossip.type": "\(type)"])
                return .delivered
            case .item(let decoded):
                item = decoded
            }
        } catch {
            refusedFromNetwork(error, from: peer, what: "TCP frame")
            if case .frameTooLarge = error { return .refused(.frameTooLarge) }
            return .refused(nil)
        }
        switch item {
        case .message(let message):
            handle(.datagram(from: peer, messages: [message]))
            return .delivered
        case .stream(let message):
            streamMessagesIn += 1
            udpSilence.streamReceived()
            switch handler.role {
            case .inbound:
                guard let conversation = handler.inboundConversation else { return .refused(nil) }
                // Not the exchange's last frame: the core merges it, the connection stays open.
                if message.more {
                    handle(.stream(from: peer, message, conversation: conversation))
                    return .delivered
                }
                awaitingReply[conversation] = channel
                handle(.stream(from: peer, message, conversation: conversation))
                // Handled without an answer: nothing more comes on this connection.
                if awaitingReply.removeValue(forKey: conversation) != nil { channel.close(promise: nil) }
                return .finished
            case .outbound(let request):
                guard request.state != .answered, request.state != .failed else { return .refused(nil) }
                if message.more {
                    handle(.stream(from: request.target, message, conversation: request.conversation))
                    return .delivered
                }
                request.state = .answered
                seedAnswered(request.target)
                handle(.stream(from: request.target, message, conversation: request.conversation))
                channel.close(promise: nil)
                return .finished
            }
        }
    }

    // MARK: connections

    func connectionOpened(_ channel: any Channel) {
        if phase == .stopping || phase == .stopped {
            channel.resetOnClose()
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
        switch handler.role {
        case .inbound:
            if let c = handler.inboundConversation {
                awaitingReply[c] = nil
                // Closed after some frames of an exchange but before its last.
                if handler.framesIn > 0, !handler.done, isActive { handle(.streamFailed(conversation: c)) }
            }
        case .outbound(let request):
            switch request.state {
            case .answered, .failed:
                break
            case .connecting:
                // The connect callback says why (it may run after this); nothing to add here.
                outboundFailed(request, nil)
            case .written:
                switch handler.closeReason {
                case .idleTimeout?, .lifetime?: outboundFailed(request, .timedOut)
                case let other?: outboundFailed(request, .connectionFailed("\(other)"))
                // A reset: the seed was busy or stopping (`StreamHandler.close`), worth a retry.
                case nil where handler.closeError != nil:
                    outboundFailed(request, .connectionFailed("connection reset (the seed may be over its connection limits)"))
                case nil: outboundFailed(request, .closedWithoutAnswer)
                }
            }
        }
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
