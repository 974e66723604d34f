/// The simulated network between every pair of nodes: latency with jitter, loss, duplication
/// (reordering follows from jitter). Partitions and per-node faults live on `Simulation`.
public struct NetworkModel: Sendable, Equatable {
    /// One-way latency before jitter.
    public var latency: Duration = .microseconds(500)
    /// Extra latency, uniform in [0, jitter).
    public var jitter: Duration = .microseconds(500)
    /// Probability that a datagram is lost.
    public var loss: Double = 0
    /// Probability that a delivered datagram arrives twice.
    public var duplication: Double = 0
    /// Stream (TCP) connections to a node that cannot be reached fail after this long.
    public var streamTimeout: Duration = .seconds(5)

    public init() {}

    public init(latency: Duration = .microseconds(500), jitter: Duration = .microseconds(500), loss: Double = 0, duplication: Double = 0) {
        self.latency = latency
        self.jitter = jitter
        self.loss = loss
        self.duplication = duplication
    }
}
