public import Logging
public import Metrics
public import NIOCore

/// Everything a node needs to start. Only `name` and `bindAddress` are required.
public struct GossipConfiguration: Sendable {
    /// This node's name, unique in the cluster.
    public var name: String
    /// Where the UDP socket and the TCP listener bind (the same port for both); port 0 picks a
    /// free port.
    public var bindAddress: Address
    /// The address other members reach this node at; defaults to the bound address. Required
    /// when binding a wildcard address.
    public var advertiseAddress: Address?
    /// Seals every packet and frame; nil sends plaintext (tests, trusted networks).
    public var keyring: Keyring?
    /// Keeps clusters that share a network (and maybe a key) apart.
    public var label: ClusterLabel = .none
    public var tags: Tags = Tags()
    public var settings: Settings = Settings()
    public var logger: Logger
    /// Where known members and the incarnation are kept across restarts; nil keeps none.
    public var snapshotPath: String?
    /// At most this many members go into the snapshot (live ones first), bounding its size.
    public var snapshotMaxMembers: Int = 512
    /// How often at most the snapshot is rewritten while the membership changes.
    public var snapshotInterval: Duration = .seconds(1)
    /// A TCP connection that does not connect within this time counts as failed.
    public var connectTimeout: Duration = .seconds(3)
    /// An inbound TCP connection idle this long is closed.
    public var streamIdleTimeout: Duration = .seconds(10)
    /// Probes without any UDP ack, while TCP exchanges work, before warning that UDP is blocked.
    public var udpSilenceWarningProbes: Int = 5
    /// Seeds the core's generator; nil draws one at random. Fix it to replay a run.
    public var randomSeed: UInt64?
    /// Runs the node on `next()` of this group; nil gives the node its own one-thread group,
    /// shut down with the node.
    public var eventLoopGroup: (any EventLoopGroup)?
    /// Where metrics go; nil uses the process-wide `MetricsSystem.factory`.
    public var metricsFactory: (any MetricsFactory)?

    public init(name: String, bindAddress: Address, logger: Logger = Logger(label: "gossip")) {
        self.name = name
        self.bindAddress = bindAddress
        self.logger = logger
    }
}
