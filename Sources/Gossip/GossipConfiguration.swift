public import Logging
public import Metrics
public import NIOCore
public import GossipWire
public import GossipCore

/// Everything a node needs to start. `name`, `bindAddress` and `logger` are required; the rest
/// has defaults.
public struct GossipConfiguration: Sendable {
    /// This node's name, unique in the cluster.
    public var name: String
    /// Where the UDP socket and the TCP listener bind (the same port for both); port 0 picks a
    /// free port.
    public var bindAddress: Address
    /// The address other members reach this node at; defaults to the bound address. Required
    /// when binding a wildcard address.
    public var advertiseAddress: Address?
    /// Seals every packet and frame; nil sends plaintext (tests, trusted networks). At most
    /// `Keyring.maxKeys` keys. The node's keyring changes at run time (`GossipNode.installKey`,
    /// `useKey`, `removeKey`), this field does not: it is the keyring the node started with. A
    /// node started without one stays plaintext.
    public var keyring: Keyring?
    /// Keeps clusters that share a network (and maybe a key) apart.
    public var label: ClusterLabel = .none
    public var tags: Tags = Tags()
    public var settings: Settings = Settings()
    /// Where the node logs (info and below, `gossip.` metadata keys). The library never makes
    /// a logger of its own: pass yours, or `Logger(label: "gossip", factory: { _ in SwiftLogNoOpLogHandler() })`
    /// for silence.
    public var logger: Logger
    /// Where known members, the incarnation and the clocks are kept across restarts; nil keeps
    /// none. `start()` throws `storageFailed` when a file cannot be written there (a directory
    /// that does not exist, no permission): a node that could not keep it would forget its
    /// cluster on the next restart.
    public var snapshotPath: String?
    /// Called after each snapshot write completes, with the number of members the file lists;
    /// on the node's event loop, so it must return quickly. For tools and tests that wait for
    /// the file (`gossip-node` prints `snapshot-written N`).
    public var onSnapshotWritten: (@Sendable (_ members: Int) -> Void)?
    /// Where the keyring is kept across restarts (Serf's `keyring_file`): one base64 key per
    /// line, primary first, mode 0600. Requires `keyring`. At `start()` the file, when there is
    /// one, wins over `keyring` (which then only seeds the first start); otherwise `keyring` is
    /// written there. Every change at run time (`installKey`, a member's `installKeyEverywhere`...)
    /// rewrites it, atomically and off the event loop, so a member restarted after a rotation
    /// comes back with the cluster's keys. `start()` throws `storageFailed` when it cannot be
    /// read or written. Without it, a rotated keyring lives in memory only.
    public var keyringPath: String?
    /// At most this many members go into the snapshot (live ones first), bounding its size.
    public var snapshotMaxMembers: Int = 512
    /// How often at most the snapshot is rewritten while the membership changes.
    public var snapshotInterval: Duration = .seconds(1)
    /// A `join` that no seed has answered within this time throws `GossipError.Code.joinFailed`
    /// (the core's own retries, `Settings.joinRetryInterval` doubling up to `joinMaxAttempts`,
    /// may end it sooner).
    public var joinTimeout: Duration = .seconds(10)
    /// A TCP connection that does not connect within this time counts as failed.
    public var connectTimeout: Duration = .seconds(3)
    /// A TCP connection on which no byte arrives for this long is closed (an outbound one
    /// waiting for its reply counts as failed).
    public var streamIdleTimeout: Duration = .seconds(10)
    /// An inbound TCP connection that has not delivered one complete frame within this time is
    /// closed, however slowly bytes keep trickling in (slowloris).
    public var streamFirstFrameTimeout: Duration = .seconds(5)
    /// No TCP connection, inbound or outbound, stays open longer than this.
    public var streamMaxLifetime: Duration = .seconds(60)

    // Bounds on what unauthenticated TCP peers can hold. What exceeds one is refused or closed
    // and counted (`gossip_stream_refused_total{reason}`, `NodeStatistics.transport`).

    /// Inbound TCP connections open at once; further ones are closed on accept.
    public var maxInboundConnections: Int = 128
    /// Inbound TCP connections open at once from one source host (IP address).
    public var maxInboundConnectionsPerHost: Int = 8
    /// The longest stream frame accepted or sent, and so the most one connection buffers. A
    /// frame announcing more is refused as soon as its 6-byte header arrives.
    public var maxFrameSize: Int = StreamCodec.defaultMaxFrameSize
    /// Bytes buffered across all TCP connections together. A connection reserves a frame's
    /// whole announced length as soon as its header arrives; one that does not fit is closed.
    public var maxStreamBufferedBytes: Int = 32 << 20
    /// Bytes buffered across the TCP connections of one peer host.
    public var maxStreamBufferedBytesPerHost: Int = 16 << 20
    /// Probes without any UDP ack, while TCP exchanges work, before warning that UDP is blocked.
    public var udpSilenceWarningProbes: Int = 5
    /// Seeds the core's generator; nil draws one at random. Fix it to replay a run.
    public var randomSeed: UInt64?
    /// Runs the node on `next()` of this group; nil uses `MultiThreadedEventLoopGroup.singleton`.
    /// Either way the group must outlive the node: a stopped node still answers its calls on it.
    public var eventLoopGroup: (any EventLoopGroup)?
    /// Where metrics go; nil uses the process-wide `MetricsSystem.factory`.
    public var metricsFactory: (any MetricsFactory)?

    public init(name: String, bindAddress: Address, logger: Logger) {
        self.name = name
        self.bindAddress = bindAddress
        self.logger = logger
    }
}

extension GossipConfiguration {
    /// Throws `GossipError.Code.invalidConfiguration` naming the first field out of range (a
    /// setting of `settings` as `settings.NAME`), or `tagsTooLarge`. `GossipNode.init` calls it.
    public func validate() throws(GossipError) {
        try validateFields()
        do { try effectiveSettings.validate() } catch { throw GossipError(error) }
        // The limit as the node enforces it at run time (with this configuration's packet overhead).
        do throws(RequestError) { try effectiveSettings.check(tags: tags) } catch { throw .tagsTooLarge }
        if !Limits.isValidName(name) {
            throw .invalidConfiguration(
                setting: "name",
                reason: "must be 1 to \(Limits.maxNameLength) bytes of UTF-8 without control or bidirectional formatting characters")
        }
    }

    /// `settings` with the packet overhead this configuration's keyring and label cost.
    var effectiveSettings: Settings {
        var s = settings
        s.packetOverhead = PacketHeader.overhead(sealed: keyring != nil, label: label)
        return s
    }

    private func validateFields() throws(GossipError) {
        func check(_ ok: Bool, _ field: String, _ reason: @autoclosure () -> String) throws(GossipError) {
            if !ok { throw .invalidConfiguration(setting: field, reason: reason()) }
        }
        if bindAddress.isUnspecified {
            try check(
                advertiseAddress.map { !$0.isUnspecified } ?? false,
                "advertiseAddress", "binding \(bindAddress) needs an advertiseAddress other members can reach")
        }
        let day = Duration.seconds(86_400)
        func duration(_ d: Duration, _ field: String) throws(GossipError) {
            try check(d > .zero && d <= day, field, "must be more than 0 and at most one day, got \(d)")
        }
        try duration(joinTimeout, "joinTimeout")
        try duration(connectTimeout, "connectTimeout")
        try duration(streamIdleTimeout, "streamIdleTimeout")
        try duration(streamFirstFrameTimeout, "streamFirstFrameTimeout")
        try duration(streamMaxLifetime, "streamMaxLifetime")
        try duration(snapshotInterval, "snapshotInterval")
        try check(snapshotMaxMembers >= 0 && snapshotMaxMembers <= 1 << 20, "snapshotMaxMembers", "must be in 0...\(1 << 20), got \(snapshotMaxMembers)")
        try check(udpSilenceWarningProbes >= 1 && udpSilenceWarningProbes <= 1_000_000, "udpSilenceWarningProbes", "must be in 1...1000000, got \(udpSilenceWarningProbes)")
        try check(maxInboundConnections >= 1 && maxInboundConnections <= 1 << 20, "maxInboundConnections", "must be in 1...\(1 << 20), got \(maxInboundConnections)")
        try check(maxInboundConnectionsPerHost >= 1 && maxInboundConnectionsPerHost <= maxInboundConnections, "maxInboundConnectionsPerHost", "must be in 1...maxInboundConnections (\(maxInboundConnections)), got \(maxInboundConnectionsPerHost)")
        try check(maxFrameSize >= 64 << 10 && maxFrameSize <= 1 << 30, "maxFrameSize", "must be in 64 KiB...1 GiB, got \(maxFrameSize)")
        let frame = maxFrameSize + StreamCodec.prefixSize
        try check(maxStreamBufferedBytesPerHost >= frame, "maxStreamBufferedBytesPerHost", "is \(maxStreamBufferedBytesPerHost) and must hold one frame of maxFrameSize plus its header (\(frame))")
        try check(
            keyringPath == nil || keyring != nil, "keyringPath",
            "needs a keyring: a node started without one runs in plaintext and has no keys to keep")
        try check((keyring?.keys.count ?? 0) <= Keyring.maxKeys, "keyring", "holds \(keyring?.keys.count ?? 0) keys; at most \(Keyring.maxKeys)")
        try check(maxStreamBufferedBytes >= maxStreamBufferedBytesPerHost && maxStreamBufferedBytes <= 1 << 40, "maxStreamBufferedBytes", "is \(maxStreamBufferedBytes) and must be at least maxStreamBufferedBytesPerHost (\(maxStreamBufferedBytesPerHost))")
    }
}
