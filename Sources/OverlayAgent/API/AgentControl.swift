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
    /// Leaves the cluster gracefully; the agent keeps running, alone, until stopped.
    func leave() async
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
}

/// A refused request: the HTTP status the API answers with, a stable code, a message for people.
public struct AgentError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// 400 bad input, 404 unknown thing, 409 conflict with what is stored, 413 too large,
    /// 503 the agent is not ready (not joined, stopping), 500 a kernel or internal failure.
    public var status: Int
    /// Stable, for scripts: `bad_request`, `unknown_network`, `bad_mac`, `bad_ip`,
    /// `duplicate_endpoint`, `ip_in_use`, `not_found`, `too_large`, `not_ready`, `kernel`, ...
    public var code: String
    public var message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) (\(code))" }

    public static func badRequest(_ code: String, _ message: String) -> AgentError { AgentError(status: 400, code: code, message: message) }
    public static func notFound(_ code: String, _ message: String) -> AgentError { AgentError(status: 404, code: code, message: message) }
    public static func conflict(_ code: String, _ message: String) -> AgentError { AgentError(status: 409, code: code, message: message) }
    public static func tooLarge(_ message: String) -> AgentError { AgentError(status: 413, code: "too_large", message: message) }
    public static func notReady(_ message: String) -> AgentError { AgentError(status: 503, code: "not_ready", message: message) }
    public static func internalError(_ code: String, _ message: String) -> AgentError { AgentError(status: 500, code: code, message: message) }
}
