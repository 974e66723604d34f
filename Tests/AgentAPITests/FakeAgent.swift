#if canImport(Glibc)
import Glibc
#endif
import OverlayAgent

/// An in-memory `AgentControl` that refuses what the real agent refuses (unknown network,
/// malformed MAC or IP, duplicate endpoint, IP in use, oversized event), so the server's
/// pass-through of refusals can be checked without a kernel.
actor FakeAgent: AgentControl {
    static let networks: [String: UInt32] = ["blue": 100, "red": 200]
    static let eventLimit = 512

    let hub = MonitorHub()
    /// How many records `monitor` buffers per reader (the tests make it small).
    let monitorBuffer: Int
    /// Yields each time a reader subscribes to the monitor.
    nonisolated let subscriptions: AsyncStream<Void>
    private let subscribed: AsyncStream<Void>.Continuation
    /// With `tracksMonitorEnds`, yields each time a monitor stream is dropped by its reader.
    nonisolated let monitorEnds: AsyncStream<Void>
    private let monitorEnded: AsyncStream<Void>.Continuation
    private let tracksMonitorEnds: Bool

    private(set) var stored: [EndpointView] = []
    private(set) var tags: [String: String] = ["role": "web"]
    private(set) var joined: [String] = []
    private(set) var left = false
    private(set) var events: [EventRequest] = []
    private var clock: UInt64 = 0

    init(monitorBuffer: Int = 1_024, tracksMonitorEnds: Bool = false) {
        self.monitorBuffer = monitorBuffer
        self.tracksMonitorEnds = tracksMonitorEnds
        (subscriptions, subscribed) = AsyncStream.makeStream()
        (monitorEnds, monitorEnded) = AsyncStream.makeStream()
    }

    func members() -> [MemberView] {
        [
            MemberView(name: "alpha", address: "10.0.0.1:7946", status: "alive", incarnation: 1, tags: ["role": "web", "dc": "east"]),
            MemberView(name: "beta", address: "10.0.0.2:7946", status: "failed", incarnation: 3, tags: ["role": "db"]),
            MemberView(name: "web-2", address: "[fd00::2]:7946", status: "alive", incarnation: 0, tags: ["role": "web-canary"]),
        ]
    }

    func join(_ seeds: [String], replay: Bool) throws(AgentError) -> Int {
        guard !seeds.isEmpty else { throw .badRequest("bad_request", "no seeds to join") }
        joined += seeds
        return seeds.count
    }

    func leave() { left = true }

    func forceLeave(_ request: ForceLeaveRequest) throws(AgentError) -> ForceLeaveReply {
        throw .conflict("member_not_failed", "\(request.node) is alive")
    }

    func fireEvent(_ request: EventRequest) throws(AgentError) -> UInt64 {
        guard request.name.utf8.count + (request.payload?.utf8.count ?? 0) <= Self.eventLimit else {
            throw .tooLarge("event is larger than \(Self.eventLimit) bytes")
        }
        events.append(request)
        clock += 1
        return clock
    }

    func query(_ request: QueryRequestBody) throws(AgentError) -> AsyncStream<QueryRecord> {
        guard !request.name.isEmpty else { throw .badRequest("bad_request", "a query needs a name") }
        let members = members().filter { request.nodes?.contains($0.name) ?? true }
        return AsyncStream { continuation in
            for member in members where request.noAck != true { continuation.yield(QueryRecord(type: "ack", from: member.name)) }
            for member in members {
                continuation.yield(QueryRecord(type: "response", from: member.name, payload: "\(member.name):\(request.payload ?? "")"))
            }
            continuation.yield(QueryRecord(type: "done", outcome: "all-responded"))
            continuation.finish()
        }
    }

    func updateTags(_ request: TagsRequest) -> [String: String] {
        tags.merge(request.set ?? [:]) { _, new in new }
        for key in request.delete ?? [] { tags[key] = nil }
        return tags
    }

    func keys(_ request: KeyRequest) throws(AgentError) -> KeysView {
        guard ["install", "use", "remove", "list"].contains(request.operation) else {
            throw .badRequest("bad_request", "unknown key operation '\(request.operation)'")
        }
        return KeysView(members: 3, responded: 3, failures: [:], keys: ["a2V5": 3], complete: true)
    }

    func addEndpoint(_ request: EndpointRequest) throws(AgentError) -> EndpointView {
        guard let vni = Self.networks[request.network] else {
            throw .notFound("unknown_network", "no network named '\(request.network)'")
        }
        guard Self.isUnicastMAC(request.mac) else { throw .badRequest("bad_mac", "'\(request.mac)' is not a unicast MAC") }
        if let ip = request.ip, !Self.parses(ip, family: AF_INET) { throw .badRequest("bad_ip", "'\(ip)' is not an IPv4 address") }
        if let ip6 = request.ip6, !Self.parses(ip6, family: AF_INET6) { throw .badRequest("bad_ip", "'\(ip6)' is not an IPv6 address") }
        let mac = request.mac.lowercased()
        guard !stored.contains(where: { $0.network == request.network && $0.mac == mac }) else {
            throw .conflict("duplicate_endpoint", "\(mac) is already registered in \(request.network)")
        }
        if let ip = request.ip, stored.contains(where: { $0.network == request.network && $0.ip == ip }) {
            throw .conflict("ip_in_use", "\(ip) is already claimed in \(request.network)")
        }
        clock += 1
        let view = EndpointView(network: request.network, vni: vni, mac: mac, ip: request.ip, ip6: request.ip6,
                                name: request.name, claim: clock)
        stored.append(view)
        return view
    }

    func removeEndpoint(network: String, mac: String) throws(AgentError) {
        guard let index = stored.firstIndex(where: { $0.network == network && $0.mac == mac.lowercased() }) else {
            throw .notFound("not_found", "no endpoint \(mac) in \(network)")
        }
        stored.remove(at: index)
    }

    func endpoints() -> [EndpointView] { stored.sorted { ($0.network, $0.mac) < ($1.network, $1.mac) } }

    func networks() -> [NetworkView] {
        Self.networks.sorted { $0.key < $1.key }.map { name, vni in
            NetworkView(name: name, vni: vni, device: "vx\(vni)", bridge: "br\(vni)", mtu: 1450, hosts: ["alpha"],
                        localEndpoints: stored.count { $0.network == name }, remoteEndpoints: 0, desiredRows: 1, conflicts: [])
        }
    }

    func fdb(network: String) throws(AgentError) -> FDBView {
        guard let vni = Self.networks[network] else { throw .notFound("unknown_network", "no network named '\(network)'") }
        let lines = [
            FDBLine(kind: "flood", key: "00:00:00:00:00:00", desired: "10.0.0.2", actual: "10.0.0.2", origin: "ours", status: "ok"),
            FDBLine(kind: "unicast", key: "02:00:00:00:00:02", desired: "10.0.0.2", actual: nil, origin: nil, status: "missing"),
        ]
        return FDBView(network: network, vni: vni, device: "vx\(vni)", lines: network == "red" ? [lines[0]] : lines,
                       inSync: network == "red")
    }

    func info() -> InfoView {
        InfoView(name: "alpha", address: "10.0.0.1:7946", vtep: "10.0.0.1", version: "test", encrypted: true,
                 members: ["alive": 2, "failed": 1], networks: 2, localEndpoints: stored.count, replicatedRows: 5,
                 reconciles: 1, rowsWritten: 4, driftRepairs: 0, netlinkErrors: 0, uptimeSeconds: 12)
    }

    func monitor(buffer: Int) -> AsyncStream<MonitorRecord> {
        defer { subscribed.yield() }
        let records = hub.subscribe(buffer: min(buffer, monitorBuffer))
        guard tracksMonitorEnds else { return records }
        // A relay whose end is observable (its buffer is unbounded: not for the lost-record tests).
        let ended = monitorEnded
        return AsyncStream { relay in
            let pump = Task {
                for await record in records { relay.yield(record) }
                relay.finish()
            }
            relay.onTermination = { _ in
                pump.cancel()
                ended.yield()
            }
        }
    }

    func metricsText() -> String { "# TYPE grapevine_members gauge\ngrapevine_members 3\n" }

    private static func isUnicastMAC(_ text: String) -> Bool {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6, parts.allSatisfy({ $0.count == 2 }) else { return false }
        let bytes = parts.compactMap { UInt8($0, radix: 16) }
        return bytes.count == 6 && bytes[0] & 1 == 0
    }

    private static func parses(_ text: String, family: Int32) -> Bool {
        var storage = in6_addr()
        return inet_pton(family, text, &storage) == 1
    }
}
