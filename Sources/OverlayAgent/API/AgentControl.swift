public import GrapevineAPI

/// What the control API (and so the CLI) can ask of a running agent. `Agent` is the one
/// implementation; the HTTP routes (`ControlServer`) translate each call to and from JSON.
///
/// Every call either does all it says or nothing: a refused request throws `AgentError`
/// (with the HTTP status the API answers with) and changes nothing.
public protocol AgentControl: Sendable {
    /// Every member the agent knows, itself included, sorted by name.
    func members() async -> [MemberView]
    /// Joins the cluster through these seeds (`host[:port]`). Returns how many answered.
    func join(_ seeds: [String], replay: Bool) async throws(AgentError) -> Int
    /// Leaves the cluster gracefully; returns once the departure has been gossiped, after
    /// which the agent stops (its API answers the request first).
    func leave() async
    /// Serf's `force-leave`: announces that a failed member left, so every host withdraws its
    /// rows now; with `prune` this agent also forgets it. `notFound` (`unknown_member`) for a
    /// name not known or the agent's own, `conflict` (`member_not_failed`) for an alive or
    /// suspect member.
    func forceLeave(_ request: ForceLeaveRequest) async throws(AgentError) -> ForceLeaveReply
    /// Fires a user event (Serf's `event`). Returns its Lamport time.
    func fireEvent(_ request: EventRequest) async throws(AgentError) -> UInt64
    /// Sends a query; the stream yields acks and responses as they come, then one `.done`.
    func query(_ request: QueryRequestBody) async throws(AgentError) -> AsyncStream<QueryRecord>
    /// Sets and deletes this member's tags; returns the tags after the change.
    func updateTags(_ request: TagsRequest) async throws(AgentError) -> [String: String]
    /// `install`, `use`, `remove` a key on every member, or `list` them (Serf's `keys`).
    func keys(_ request: KeyRequest) async throws(AgentError) -> KeysView

    /// Registers a local endpoint and publishes it. Refused (nothing stored) for an unknown
    /// network, a malformed MAC or IP, a MAC already registered in that network, or an IP
    /// another endpoint (here or on another live host) holds in that network.
    func addEndpoint(_ request: EndpointRequest) async throws(AgentError) -> EndpointView
    /// Withdraws a local endpoint everywhere. `notFound` when it is not registered.
    func removeEndpoint(network: String, mac: String) async throws(AgentError)
    /// This host's endpoints, sorted by network then MAC.
    func endpoints() async -> [EndpointView]
    /// The configured networks with their devices and counts.
    func networks() async -> [NetworkView]
    /// Desired against actual kernel rows of one network, each marked (`FDBLine.status`).
    func fdb(network: String) async throws(AgentError) -> FDBView
    /// The agent's name, address, membership counts, networks, reconcile figures.
    func info() async -> InfoView
    /// Membership changes, replicated-row changes and log lines from now on. The stream ends
    /// when the consumer stops reading (it is dropped) or the agent stops; a consumer that
    /// falls more than `buffer` records behind gets a `lost` record in place of them.
    func monitor(buffer: Int) async -> AsyncStream<MonitorRecord>
    /// Prometheus text exposition of every metric (`/metrics`).
    func metricsText() async -> String
    /// The names the overlay's DNS holds, every network's (empty without a name service).
    func dnsNames() async -> [NameView]
    /// Every Docker network's address allocators as this host sees them (empty without Docker).
    func ipam() async -> IPAMStatus
    /// Takes the address ranges of a host gone past `ipam_quarantine` (or of one of its
    /// incarnations), when this host is its reclaimer. `conflict` (`still_alive`,
    /// `not_reclaimer`, `refused`) otherwise, `notFound` for a host without allocator rows.
    func ipamReclaim(_ request: IPAMReclaimRequest) async throws(AgentError) -> IPAMReclaimReply
}

extension AgentControl {
    public func dnsNames() async -> [NameView] { [] }
    public func ipam() async -> IPAMStatus { IPAMStatus(networks: []) }
    public func ipamReclaim(_ request: IPAMReclaimRequest) async throws(AgentError) -> IPAMReclaimReply {
        throw .notFound("no_ipam", "this agent does not serve Docker")
    }
}
