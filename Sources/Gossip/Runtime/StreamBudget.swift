import GossipCore

/// What TCP peers may hold before anything they sent is authenticated: inbound connections in
/// total and per source host, and bytes buffered in total and per host (every connection, in or
/// out, reserves what it buffers, or the whole announced frame as soon as its header arrived).
/// A plain value; the runtime asks it and closes what it refuses.
struct StreamBudget: Sendable, Equatable {
    /// Why a connection was refused or closed. Raw values are metric labels: never rename.
    enum Refusal: String, Sendable, CaseIterable, CustomStringConvertible {
        case connectionLimit = "connection_limit"
        case hostConnectionLimit = "host_connection_limit"
        case bufferLimit = "buffer_limit"
        case hostBufferLimit = "host_buffer_limit"
        case frameTooLarge = "frame_too_large"
        case firstFrameTimeout = "first_frame_timeout"
        case idleTimeout = "idle_timeout"
        case lifetime

        var description: String {
            switch self {
            case .connectionLimit: "too many inbound connections"
            case .hostConnectionLimit: "too many inbound connections from this host"
            case .bufferLimit: "too many bytes buffered across all connections"
            case .hostBufferLimit: "too many bytes buffered for this host"
            case .frameTooLarge: "frame longer than the maximum"
            case .firstFrameTimeout: "no complete frame in time"
            case .idleTimeout: "idle too long"
            case .lifetime: "connection open too long"
            }
        }

        /// Whether the refusal says nothing about the request: the node was busy (over a
        /// limit) or the frame was slow to come, and the same request can succeed later.
        var passes: Bool {
            switch self {
            case .connectionLimit, .hostConnectionLimit, .bufferLimit, .hostBufferLimit, .firstFrameTimeout: true
            case .frameTooLarge, .idleTimeout, .lifetime: false
            }
        }
    }

    var maxInbound: Int
    var maxInboundPerHost: Int
    var maxBuffered: Int
    var maxBufferedPerHost: Int

    private(set) var inbound = 0
    private(set) var buffered = 0
    private var inboundByHost: [Address: Int] = [:]
    private var bufferedByHost: [Address: Int] = [:]

    init(maxInbound: Int, maxInboundPerHost: Int, maxBuffered: Int, maxBufferedPerHost: Int) {
        self.maxInbound = maxInbound
        self.maxInboundPerHost = maxInboundPerHost
        self.maxBuffered = maxBuffered
        self.maxBufferedPerHost = maxBufferedPerHost
    }

    /// Takes a slot for an accepted connection from `host`, or says why not.
    mutating func admit(from host: Address) -> Refusal? {
        if inbound >= maxInbound { return .connectionLimit }
        let n = inboundByHost[host, default: 0]
        if n >= maxInboundPerHost { return .hostConnectionLimit }
        inbound += 1
        inboundByHost[host] = n + 1
        return nil
    }

    /// Gives back what `admit` took.
    mutating func release(inboundFrom host: Address) {
        inbound = max(0, inbound - 1)
        let n = inboundByHost[host, default: 0] - 1
        inboundByHost[host] = n > 0 ? n : nil
    }

    /// Moves one connection's reservation from `old` to `new` bytes. Growing beyond a limit is
    /// refused, and the reservation then stays at `old`; shrinking always succeeds.
    mutating func reserve(for host: Address, from old: Int, to new: Int) -> Refusal? {
        let delta = new - old
        let hostNow = bufferedByHost[host, default: 0]
        if delta > 0 {
            if buffered + delta > maxBuffered { return .bufferLimit }
            if hostNow + delta > maxBufferedPerHost { return .hostBufferLimit }
        }
        buffered = max(0, buffered + delta)
        let h = hostNow + delta
        bufferedByHost[host] = h > 0 ? h : nil
        return nil
    }

    var hostsWithInbound: Int { inboundByHost.count }
}
