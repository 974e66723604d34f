import GossipCore
import GossipWire
import NIOCore

/// The deadlines of one TCP connection.
struct StreamTimeouts: Sendable {
    /// Closed when no byte arrived for this long.
    var idle: TimeAmount
    /// Inbound only: closed when no complete frame arrived within this time of accepting.
    var firstFrame: TimeAmount
    /// Closed this long after it opened, whatever it is doing.
    var lifetime: TimeAmount
}

/// One of the core's own conversations: the request goes out on a connection this node opens,
/// and the reply comes back on it.
final class OutboundStream {
    enum State { case connecting, written, answered, failed }

    let target: Address
    let conversation: ConversationID
    var state = State.connecting
    /// `Input.streamFailed` went to the core (at most once).
    var reportedFailure = false

    init(target: Address, conversation: ConversationID) {
        self.target = target
        self.conversation = conversation
    }
}

/// One TCP connection, inbound or outbound: reads frames and hands them to the runtime, within
/// the runtime's budget of connections and buffered bytes, and within its deadlines. An
/// accepted connection carries one request (and its reply); an outbound one, one request and
/// the reply read here.
final class StreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    enum Role {
        case inbound
        case outbound(OutboundStream)
    }

    private let runtime: NodeRuntime
    let role: Role
    private let timeouts: StreamTimeouts
    private var buffer: ByteBuffer?
    private(set) var peer: Address?
    /// Bytes this connection holds in the runtime's `StreamBudget`.
    private(set) var reserved = 0
    /// Whether the runtime counted this connection among its inbound ones.
    var admitted = false
    private(set) var framesIn = 0
    private var lastRead = NIODeadline.now()
    private var idleTimer: Scheduled<Void>?
    private var firstFrameTimer: Scheduled<Void>?
    private var lifetimeTimer: Scheduled<Void>?
    private var activated = false
    private var closing = false
    /// Why the connection was closed from this side, if it was.
    private(set) var closeReason: StreamBudget.Refusal?
    /// The error that ended the connection, if one did (a reset by the peer, for one).
    private(set) var closeError: (any Error)?
    /// An accepted connection's id, given once it is admitted.
    private(set) var inboundConversation: ConversationID?
    /// The request was read (inbound) or the reply (outbound): nothing more is read.
    private(set) var done = false

    init(runtime: NodeRuntime, role: Role, timeouts: StreamTimeouts) {
        self.runtime = runtime
        self.role = role
        self.timeouts = timeouts
    }

    var isInbound: Bool {
        if case .inbound = role { return true }
        return false
    }

    func handlerAdded(context: ChannelHandlerContext) {
        runtime.connectionOpened(context.channel)
        if context.channel.isActive { activate(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        for t in [idleTimer, firstFrameTimer, lifetimeTimer] { t?.cancel() }
        idleTimer = nil
        firstFrameTimer = nil
        lifetimeTimer = nil
        buffer = nil
        runtime.connectionClosed(context.channel, handler: self)
        reserved = 0
        admitted = false
    }

    func channelActive(context: ChannelHandlerContext) {
        activate(context)
        context.fireChannelActive()
    }

    private func activate(_ context: ChannelHandlerContext) {
        guard !activated else { return }
        activated = true
        peer = context.remoteAddress.flatMap(Address.init)
        if isInbound {
            if let refusal = runtime.admitInbound(from: peer, handler: self) {
                close(context, refusal)
                return
            }
            inboundConversation = runtime.inboundConversation()
            firstFrameTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeouts.firstFrame) {
                self.close(context, .firstFrameTimeout)
            }
        }
        lastRead = .now()
        armIdle(context, at: lastRead + timeouts.idle)
        lifetimeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeouts.lifetime) {
            self.close(context, .lifetime)
        }
    }

    /// One timer per connection, re-armed lazily: reads only record the time.
    private func armIdle(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            let due = self.lastRead + self.timeouts.idle
            if due <= .now() {
                self.close(context, .idleTimeout)
            } else {
                self.armIdle(context, at: due)
            }
        }
    }

    /// Closes the connection. An accepted connection closed for a reason that passes (this
    /// node is busy or stopping) is reset rather than closed, so that the peer can tell it from
    /// the clean close of a request this node will never answer (another key or cluster label):
    /// a joiner retries the first and gives up on the second at once.
    func close(_ context: ChannelHandlerContext, _ reason: StreamBudget.Refusal?) {
        guard !closing else { return }
        closing = true
        if closeReason == nil { closeReason = reason }
        if let reason { runtime.streamClosed(reason, peer: peer, inbound: isInbound) }
        buffer = nil
        _ = runtime.reserve(for: self, bytes: 0)
        if isInbound, reason?.passes ?? !runtime.isActive {
            context.channel.resetOnClose()
        }
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, !done else { return }
        lastRead = .now()
        var incoming = unwrapInboundIn(data)
        _ = buffer.setOrWriteBuffer(&incoming)
        guard var buf = buffer else { return }
        buffer = nil
        while !closing {
            switch runtime.readFrame(&buf, handler: self, channel: context.channel) {
            case .needMoreData:
                // What stays buffered is reserved, or the whole frame its header announced.
                var needed = buf.readableBytes
                if let length = buf.getInteger(at: buf.readerIndex + 2, as: UInt32.self) {
                    needed = max(needed, StreamCodec.prefixSize + Int(length))
                }
                if let refusal = runtime.reserve(for: self, bytes: needed) {
                    close(context, refusal)
                    return
                }
                if buf.readableBytes > 0 {
                    buf.discardReadBytes()
                    buffer = buf
                }
                return
            case .delivered:
                framesIn += 1
                firstFrameTimer?.cancel()
                firstFrameTimer = nil
                continue
            case .finished:
                // The runtime closes the connection (after writing a reply, if any).
                done = true
                firstFrameTimer?.cancel()
                firstFrameTimer = nil
                _ = runtime.reserve(for: self, bytes: 0)
                return
            case .refused(let reason):
                close(context, reason)
                return
            }
        }
    }

    /// The runtime's own bookkeeping of this connection's reservation.
    func setReserved(_ bytes: Int) { reserved = bytes }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        runtime.logger.debug(
            "stream connection error",
            metadata: ["gossip.peer.address": "\(peer.map(\.description) ?? "?")", "gossip.error": "\(error)"])
        if closeError == nil { closeError = error }
        close(context, nil)
    }
}

extension Channel {
    /// Makes the coming close send a TCP reset (`SO_LINGER` 0) instead of a FIN. On the
    /// channel's event loop the option is set before this returns.
    func resetOnClose() {
        _ = (self as? any SocketOptionProvider)?.setSoLinger(NIOLinger(l_onoff: 1, l_linger: 0))
    }
}
