import Addresses
import Gossip
import GrapevineAPI
import Netlink
import Overlay

extension Agent: AgentControl {
    public func members() async -> [MemberView] {
        node.members.sorted { $0.name < $1.name }.map(Self.view)
    }

    static func view(_ m: Member) -> MemberView {
        var tags: [String: String] = [:]
        for (k, v) in m.tags { tags[k] = v }
        return MemberView(name: m.name, address: "\(m.address)", status: "\(m.status)", incarnation: m.incarnation, tags: tags)
    }

    public func join(_ seeds: [String], replay: Bool) async throws(AgentError) -> Int {
        guard !seeds.isEmpty else { throw .badRequest("bad_request", "no seed given") }
        do {
            let n = try await node.join(seeds, replayEvents: replay)
            await overlay.joinedCluster()
            return n
        } catch {
            throw Self.agentError(error)
        }
    }

    public func leave() async {
        // Ranges go to a live host first, while this host can still publish the donation.
        await ipam?.leave()
        await node.leave()
    }

    public func forceLeave(_ request: ForceLeaveRequest) async throws(AgentError) -> ForceLeaveReply {
        do { try await node.forceLeave(request.node, prune: request.prune ?? false) } catch {
            switch error.underlying as? RequestError {
            case .unknownMember?: throw .notFound("unknown_member", "\(error)")
            case .memberNotFailed?: throw .conflict("member_not_failed", "\(error)")
            default: throw Self.agentError(error)
            }
        }
        return ForceLeaveReply(node: request.node, pruned: request.prune ?? false)
    }

    public func fireEvent(_ request: EventRequest) async throws(AgentError) -> UInt64 {
        do {
            return try await node.fireEvent(request.name, payload: Array((request.payload ?? "").utf8),
                                            coalesce: request.coalesce ?? false)
        } catch {
            throw Self.agentError(error)
        }
    }

    public func query(_ request: QueryRequestBody) async throws(AgentError) -> AsyncStream<QueryRecord> {
        var filters: [QueryFilter] = []
        if let nodes = request.nodes, !nodes.isEmpty { filters.append(.nodes(nodes)) }
        for (key, source) in (request.tags ?? [:]).sorted(by: { $0.key < $1.key }) {
            do { filters.append(.tag(key: key, pattern: try FilterPattern(source))) } catch {
                throw .badRequest("bad_filter", "tag \(key): \(error)")
            }
        }
        if let t = request.timeoutMilliseconds, !(1...600_000).contains(t) {
            throw .badRequest("bad_request", "timeout must be 1 to 600000 ms")
        }
        let relay = request.relayFactor ?? 0
        guard (0...QueryRequest.maxRelayFactor).contains(relay) else {
            throw .badRequest("bad_request", "relay factor must be 0 to \(QueryRequest.maxRelayFactor)")
        }
        let q = QueryRequest(name: request.name, payload: Array((request.payload ?? "").utf8), filters: filters,
                             timeout: request.timeoutMilliseconds.map { .milliseconds($0) },
                             wantsAcks: !(request.noAck ?? false), relayFactor: relay)
        let updates: Updates<QueryUpdate>
        do { updates = try await node.query(q) } catch { throw Self.agentError(error) }
        // Read by the caller's task as it reads the records (no task of its own): each read
        // goes on from where the last stopped, and the query's subscription ends with the stream.
        return AsyncStream {
            var reader = updates.makeAsyncIterator()
            guard let u = await reader.next() else { return nil }
            switch u {
            case .ack(let from): return QueryRecord(type: "ack", from: from)
            case .response(let from, let payload):
                return QueryRecord(type: "response", from: from, payload: String(decoding: payload, as: UTF8.self))
            case .finished(let end): return QueryRecord(type: "done", outcome: "\(end)")
            }
        }
    }

    public func updateTags(_ request: TagsRequest) async throws(AgentError) -> [String: String] {
        var tags = node.localMember?.tags ?? Tags()
        for (k, v) in (request.set ?? [:]).sorted(by: { $0.key < $1.key }) { tags[k] = v }
        for k in request.delete ?? [] { tags[k] = nil }
        do { try await node.setTags(tags) } catch { throw Self.agentError(error) }
        var out: [String: String] = [:]
        for (k, v) in tags { out[k] = v }
        handlers.setSelfTags(out)
        return out
    }

    public func keys(_ request: GrapevineAPI.KeyRequest) async throws(AgentError) -> KeysView {
        func key() throws(AgentError) -> SecretKey {
            guard let text = request.key else { throw .badRequest("bad_key", "\(request.operation) needs a key") }
            do { return try SecretKey(base64: text) } catch {
                throw .badRequest("bad_key", "not a base64 key of \(SecretKey.size) bytes")
            }
        }
        let report: KeyReport
        do {
            switch request.operation {
            case "install": report = try await node.installKeyEverywhere(try key())
            case "use": report = try await node.useKeyEverywhere(try key())
            case "remove": report = try await node.removeKeyEverywhere(try key())
            case "list": report = try await node.keysEverywhere()
            default: throw AgentError.badRequest("bad_request", "operation must be install, use, remove or list")
            }
        } catch let e as AgentError {
            throw e
        } catch {
            throw Self.agentError(error)
        }
        var failures = report.failed
        for m in report.missing { failures[m] = "no answer" }
        var keys: [String: Int] = [:]
        if request.operation == "list" {
            let held = (try? await node.keys()) ?? []
            for (fingerprint, n) in report.keys {
                // Members answer with fingerprints; show the key itself when this node holds it.
                let name = held.first { $0.fingerprint == fingerprint }?.base64 ?? "\(fingerprint)"
                keys[name] = n
            }
        }
        return KeysView(members: report.asked, responded: report.asked - report.missing.count, failures: failures,
                        keys: keys, complete: report.isComplete)
    }

    public func addEndpoint(_ request: EndpointRequest) async throws(AgentError) -> EndpointView {
        try await overlay.registerEndpoint(request)
    }

    public func removeEndpoint(network: String, mac: String) async throws(AgentError) {
        try await overlay.unregisterEndpoint(network: network, mac: mac)
    }

    public func endpoints() async -> [EndpointView] {
        registry.endpoints.values.sorted { ($0.network, $0.mac) < ($1.network, $1.mac) }.map(OverlayController.view)
    }

    public func networks() async -> [NetworkView] {
        await overlay.networkViews()
    }

    public func fdb(network name: String) async throws(AgentError) -> FDBView {
        try await overlay.fdb(network: name)
    }

    public func info() async -> InfoView {
        var counts: [String: Int] = [:]
        for m in node.members { counts["\(m.status)", default: 0] += 1 }
        let address = node.localMember.map { "\($0.address)" } ?? configuration.bind
        let overlay = await overlay.status()
        return InfoView(
            name: configuration.name, address: address, vtep: "\(vtep)", version: AgentVersion.current,
            encrypted: configuration.keyFile != nil, members: counts, networks: overlay.networks, localEndpoints: registry.endpoints.count,
            replicatedRows: overlay.replicatedRows, reconciles: overlay.reconciles, rowsWritten: overlay.rowsWritten,
            driftRepairs: overlay.driftRepairs, netlinkErrors: overlay.netlinkErrors, uptimeSeconds: clock.uptime.seconds,
            underlay: overlay.underlay)
    }

    public func monitor(buffer: Int) async -> AsyncStream<MonitorRecord> {
        hub.subscribe(buffer: buffer)
    }

    public func metricsText() async -> String {
        metrics.text()
    }
}

/// The agent's version, reported by `info` and `grapevine --version`.
public enum AgentVersion {
    public static let current = "0.1.0"
}
