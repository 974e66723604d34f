import Addresses
import Logging
import Overlay
import Synchronization

/// This host's endpoints: the one owner of the registry (`local`), its file (`RegistryDisk`)
/// and its rows (`RowPublisher`), and of the claim clock (`LamportClock`).
///
/// Commands (`add`, `remove`, `rename`, `renameNetwork`) go into an inbox that one task, `run`
/// (a child of the agent's run), drains; nothing else writes the registry, so each command
/// sees the registry as the commands before it left it, with no `await` in between where
/// another caller could step in. What arrives together is handled as a batch sharing one file
/// write (group commit: one `fdatasync` of the log for the batch, `EndpointStore`);
/// a batch holds at most one command per endpoint, and no add of an address a removal in it
/// frees, so every command's change is its own and undoing one invalidates no other.
///
/// For each batch: every command is checked and applied in order; the file is written once;
/// then each change is published. A change is acknowledged once it is on disk and published.
/// A failure undoes only that command's change: a failed write undoes the whole batch (the
/// file still holds what it held before it); a failed publish undoes that one endpoint and
/// the file is written again, retried with backoff until it holds the undo (bounded: a disk
/// that stays broken is logged and corrected by the next write), before the caller is told. So after any interleaving of callers and failures, an acknowledged endpoint is in
/// the registry, on disk and published, and a refused one is in none of them.
///
/// Others read `endpoints`, a snapshot published after each command's outcome is known.
final class EndpointRegistry: Sendable {
    /// An endpoint to add, as the adapter validated it (network resolved, MAC and addresses
    /// parsed); the registry checks it against the others and stamps its claim.
    struct Draft: Sendable {
        var network: String
        var vni: VNI
        var mac: MACAddress
        var ipv4: IPAddress?
        var ipv6: IPAddress?
        var name: String?

        var key: EndpointKey { EndpointKey(network: vni.value, mac: mac.description) }
        /// Its addresses as the registry file spells them.
        var addresses: [String] { [ipv4, ipv6].compactMap { $0?.description } }
    }

    enum Command: Sendable {
        case add(Draft)
        /// `network` names it in the error.
        case remove(EndpointKey, network: String)
        /// The endpoint's own name (a container's name, known after it started).
        case rename(EndpointKey, name: String, aliases: [String])
        /// The local name of a network, kept in every endpoint of it.
        case renameNetwork(vni: UInt32, name: String)
    }

    /// What one command changed, so that its undo touches that and nothing else.
    enum Change: Sendable {
        case added(StoredEndpoint)
        case removed(StoredEndpoint)
        case renamed(from: StoredEndpoint, to: StoredEndpoint)
        case networkRenamed(vni: UInt32, from: [EndpointKey: String], to: String)
    }

    private struct Request: Sendable {
        let command: Command
        let reply: CheckedContinuation<Result<StoredEndpoint?, AgentError>, Never>
    }

    private struct Inbox: Sendable {
        var requests: [Request] = []
        var closed = false
    }

    let host: String
    let clock = LamportClock()
    private let disk: any RegistryDisk
    private let rows: any RowPublisher
    private let retry: Backoff
    private let retryAttempts: Int
    private let logger: Logger
    private let metrics: AgentMetrics
    private let inbox = Mutex(Inbox())
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    private let published = Mutex<[EndpointKey: StoredEndpoint]>([:])
    /// A write failed: the file may differ from the registry by more than the next batch, so
    /// the next write is whole.
    private let wholeOwed = Mutex(false)

    /// - Parameters:
    ///   - host: this host's name, the owner of every claim.
    ///   - retry: the backoff of a write that undoes a refused change, tried `retryAttempts`
    ///     times at most (≥ 1; about 20 s with the defaults).
    init(host: String, disk: any RegistryDisk, rows: any RowPublisher, logger: Logger, metrics: AgentMetrics,
         retry: Backoff = Backoff(base: .milliseconds(100), cap: .seconds(5)), retryAttempts: Int = 8) {
        self.host = host
        self.disk = disk
        self.rows = rows
        self.retry = retry
        self.retryAttempts = max(1, retryAttempts)
        self.logger = logger
        self.metrics = metrics
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: reading

    /// This host's endpoints: every acknowledged one, none refused.
    var endpoints: [EndpointKey: StoredEndpoint] { published.withLock { $0 } }

    /// The endpoints of `vni`, in a stable order.
    func endpoints(in vni: UInt32) -> [StoredEndpoint] {
        published.withLock { $0.values.filter { $0.vni == vni } }.sorted { $0.mac < $1.mac }
    }

    // MARK: before `run`

    /// Takes what the file held at start (`EndpointStore.load`): call before `run`.
    func restore(_ contents: EndpointStore.Contents) {
        clock.observe(contents.clock)
        published.withLock { local in
            for e in contents.endpoints { local[EndpointKey(network: e.vni, mac: e.mac)] = e }
        }
    }

    /// Publishes every endpoint again (a restart): call before `run`, while nothing else uses
    /// the registry.
    /// - Throws: the first publish that failed (`RowPublisher.write`).
    func publishAll() async throws {
        for e in endpoints.values.sorted(by: { ($0.vni, $0.mac) < ($1.vni, $1.mac) }) {
            try await rows.write(.endpoint(try e.endpoint(owner: host)))
        }
    }

    // MARK: commands

    /// Registers, persists and publishes an endpoint.
    /// - Returns: it as stored, with its claim.
    /// - Throws: `AgentError` `duplicate_endpoint`, `ip_in_use` (held by another endpoint of
    ///   this host), `bad_request` for a row no host would accept, `store` for a failed write,
    ///   a gossip error for a failed publish; then nothing of it is stored or published.
    func add(_ draft: Draft) async throws(AgentError) -> StoredEndpoint {
        // An add always answers with the endpoint.
        try await submit(.add(draft))!
    }

    /// Withdraws an endpoint everywhere.
    /// - Throws: `AgentError` `not_found`, `store`, or the gossip error of the delete; then it
    ///   stays registered, on disk and published.
    func remove(_ key: EndpointKey, network: String) async throws(AgentError) {
        _ = try await submit(.remove(key, network: network))
    }

    /// Sets an endpoint's name and publishes it; nothing when the endpoint is gone or already
    /// has that name.
    func rename(_ key: EndpointKey, to name: String, aliases: [String] = []) async throws(AgentError) {
        _ = try await submit(.rename(key, name: name, aliases: aliases))
    }

    /// Records a network's new local name in each of its endpoints (the rows do not carry it).
    func renameNetwork(_ vni: UInt32, to name: String) async throws(AgentError) {
        _ = try await submit(.renameNetwork(vni: vni, name: name))
    }

    private func submit(_ command: Command) async throws(AgentError) -> StoredEndpoint? {
        let result: Result<StoredEndpoint?, AgentError> = await withCheckedContinuation { continuation in
            let accepted = inbox.withLock { inbox in
                guard !inbox.closed else { return false }
                inbox.requests.append(Request(command: command, reply: continuation))
                return true
            }
            if accepted {
                wake.yield()
            } else {
                continuation.resume(returning: .failure(.notReady("the agent is stopping: the endpoint registry takes no more changes")))
            }
        }
        return try result.get()
    }

    // MARK: the owner's task

    /// The registry's task, a child of the agent's run: handles the commands until cancelled,
    /// then refuses those still waiting and every later one.
    func run() async {
        var local = endpoints
        for await _ in wakes {
            while true {
                let batch = nextBatch()
                if batch.isEmpty { break }
                await handle(batch, &local)
            }
        }
        let left = inbox.withLock { inbox in
            inbox.closed = true
            defer { inbox.requests = [] }
            return inbox.requests
        }
        for request in left {
            request.reply.resume(returning: .failure(.notReady("the agent is stopping: the endpoint registry takes no more changes")))
        }
    }

    /// The longest run of waiting commands that touch distinct endpoints (a network rename
    /// touches many and goes alone), taken out of the inbox.
    private func nextBatch() -> [Request] {
        inbox.withLock { inbox in
            var touched: Set<EndpointKey> = []
            var taken = 0
            for request in inbox.requests {
                let key: EndpointKey? = switch request.command {
                case .add(let draft): draft.key
                case .remove(let key, _), .rename(let key, _, _): key
                case .renameNetwork: nil
                }
                guard let key else {
                    if taken == 0 { taken = 1 }
                    break
                }
                guard touched.insert(key).inserted else { break }
                taken += 1
            }
            defer { inbox.requests.removeFirst(taken) }
            return Array(inbox.requests.prefix(taken))
        }
    }

    private func handle(_ batch: [Request], _ local: inout [EndpointKey: StoredEndpoint]) async {
        var applied: [(request: Request, change: Change)] = []
        // Addresses that removals of this batch freed: an add that takes one waits for the
        // next batch, since the removal's undo would give the address back (two holders).
        var freed: Set<String> = []
        for (index, request) in batch.enumerated() {
            if case .add(let draft) = request.command,
               draft.addresses.contains(where: { freed.contains("\(draft.vni.value)/\($0)") }) {
                inbox.withLock { $0.requests.insert(contentsOf: batch[index...], at: 0) }
                break
            }
            switch apply(request.command, to: &local) {
            case .success(let change?):
                applied.append((request, change))
                if case .removed(let e) = change {
                    for ip in [e.ip, e.ip6].compactMap({ $0 }) { freed.insert("\(e.vni)/\(ip)") }
                }
            case .success(nil): request.reply.resume(returning: .success(nil))
            case .failure(let error): request.reply.resume(returning: .failure(error))
            }
        }
        guard !applied.isEmpty else { return }

        do {
            let clock = clock.value
            // A network rename changes many endpoints: the whole registry is written.
            let whole = wholeOwed.withLock { $0 } || applied.contains { $0.change.key == nil }
            try await save(whole ? nil : applied.map { $0.change.record(clock: clock) }, local)
        } catch {
            reportStoreError(error)
            // The file still holds what it held before the batch: the batch is undone whole.
            for (_, change) in applied.reversed() { undo(change, in: &local) }
            for (request, _) in applied { request.reply.resume(returning: .failure(.internalError("store", error.description))) }
            return
        }

        var refused: [(request: Request, error: AgentError)] = []
        for (request, change) in applied {
            do {
                try await publish(change)
            } catch {
                undo(change, in: &local)
                refused.append((request, Agent.agentError(error)))
                continue
            }
            let key = change.key
            published.withLock { published in
                if let key {
                    published[key] = local[key]
                } else {
                    published = local
                }
            }
            request.reply.resume(returning: .success(change.answer))
        }
        guard !refused.isEmpty else { return }
        for (request, error) in refused {
            logger.warning("endpoint change not published; it is undone", metadata: [
                "endpoint.change": "\(request.command.verb)", "publish.error": "\(error)",
            ])
        }
        await rewrite(local)
        for (request, error) in refused { request.reply.resume(returning: .failure(error)) }
    }

    /// Checks `command` against the registry and applies it; nil when there is nothing to do.
    private func apply(_ command: Command, to local: inout [EndpointKey: StoredEndpoint]) -> Result<Change?, AgentError> {
        switch command {
        case .add(let draft):
            let key = draft.key
            guard local[key] == nil else {
                return .failure(.conflict("duplicate_endpoint", "\(draft.mac) is already registered in network \(draft.network)"))
            }
            for ip in [draft.ipv4, draft.ipv6].compactMap({ $0 }) {
                let text = ip.description
                if let holder = local.values.first(where: { $0.vni == draft.vni.value && ($0.ip == text || $0.ip6 == text) }) {
                    return .failure(.conflict("ip_in_use", "\(ip) is already held in network \(draft.network) by this host (\(holder.mac))"))
                }
            }
            let stored = StoredEndpoint(network: draft.network, vni: draft.vni.value, mac: draft.mac.description,
                                        ip: draft.ipv4?.description, ip6: draft.ipv6?.description, name: draft.name,
                                        claim: clock.next())
            // Refuse what no host would accept (a name with control characters...) before storing.
            do { _ = try OverlayRow.endpoint(try stored.endpoint(owner: host)).value() } catch let error as OverlayRowError {
                return .failure(.badRequest(error.reason, error.description))
            } catch {
                return .failure(Agent.agentError(error))
            }
            local[key] = stored
            return .success(.added(stored))
        case .remove(let key, let network):
            guard let stored = local.removeValue(forKey: key) else {
                return .failure(.notFound("not_found", "no endpoint \(key.mac) in network \(network)"))
            }
            return .success(.removed(stored))
        case .rename(let key, let name, let aliases):
            let aliases: [String]? = aliases.isEmpty ? nil : aliases
            guard let before = local[key], before.name != name || before.aliases != aliases else { return .success(nil) }
            var after = before
            after.name = name
            after.aliases = aliases
            do { _ = try OverlayRow.endpoint(try after.endpoint(owner: host)).value() } catch {
                return .failure(Agent.agentError(error))
            }
            local[key] = after
            return .success(.renamed(from: before, to: after))
        case .renameNetwork(let vni, let name):
            var previous: [EndpointKey: String] = [:]
            for (key, var e) in local where e.vni == vni && e.network != name {
                previous[key] = e.network
                e.network = name
                local[key] = e
            }
            return .success(previous.isEmpty ? nil : .networkRenamed(vni: vni, from: previous, to: name))
        }
    }

    /// Undoes one change: its own endpoint and nothing else (a batch touches each endpoint once).
    private func undo(_ change: Change, in local: inout [EndpointKey: StoredEndpoint]) {
        switch change {
        case .added(let e): local[e.key] = nil
        case .removed(let e): local[e.key] = e
        case .renamed(let before, _): local[before.key] = before
        case .networkRenamed(_, let previous, _):
            for (key, network) in previous { local[key]?.network = network }
        }
    }

    private func publish(_ change: Change) async throws {
        switch change {
        case .added(let e), .renamed(_, let e): try await rows.write(.endpoint(try e.endpoint(owner: host)))
        case .removed(let e): try await rows.delete(.endpoint(try e.endpoint(owner: host)))
        case .networkRenamed: break
        }
    }

    /// Writes the registry again after an undo, until the file holds it: until then the file
    /// may still show a refused change, so the refused callers wait for it. Bounded
    /// (`retryAttempts`), so that a disk that stays broken does not hold every caller: the
    /// callers then get their error, the failure is logged, and the next write (after a failed
    /// one the store writes the whole registry) corrects the file.
    private func rewrite(_ local: [EndpointKey: StoredEndpoint]) async {
        var backoff = retry
        for attempt in 1...retryAttempts {
            do {
                try await save(nil, local)
                return
            } catch {
                reportStoreError(error)
            }
            guard attempt < retryAttempts else { break }
            do { try await Task.sleep(for: backoff.next()) } catch { break }
        }
        logger.error("the registry on disk may still show an endpoint whose change failed; the next write of the registry corrects it")
    }

    /// Writes `records`, or the whole registry when nil; a failure owes the next write whole.
    private func save(_ records: [RegistryRecord]?, _ local: [EndpointKey: StoredEndpoint]) async throws(StoreError) {
        let clock = clock.value
        do {
            try await disk.save(records, whole: { Self.contents(local, clock: clock) })
        } catch {
            wholeOwed.withLock { $0 = true }
            throw error
        }
        if records == nil { wholeOwed.withLock { $0 = false } }
    }

    private static func contents(_ local: [EndpointKey: StoredEndpoint], clock: UInt64) -> EndpointStore.Contents {
        EndpointStore.Contents(format: EndpointStore.format, clock: clock,
                               endpoints: local.values.sorted { ($0.vni, $0.mac) < ($1.vni, $1.mac) })
    }

    private func reportStoreError(_ error: StoreError) {
        metrics.storeError(file: "endpoints")
        logger.error("cannot write the endpoint registry", metadata: ["store.error": "\(error)"])
    }
}

extension EndpointRegistry.Command {
    var verb: String {
        switch self {
        case .add(let d): "add \(d.mac) to \(d.network)"
        case .remove(let key, let network): "remove \(key.mac) from \(network)"
        case .rename(let key, _, _): "rename \(key.mac)"
        case .renameNetwork(let vni, _): "rename network \(vni)"
        }
    }
}

extension EndpointRegistry.Change {
    /// The one endpoint it touched; nil for a change of several.
    var key: EndpointKey? {
        switch self {
        case .added(let e), .removed(let e), .renamed(_, let e): e.key
        case .networkRenamed: nil
        }
    }

    /// The line of `endpoints.log` that says it; only for a change of one endpoint.
    func record(clock: UInt64) -> RegistryRecord {
        switch self {
        case .added(let e), .renamed(_, let e): .put(e, clock: clock)
        case .removed(let e): .removed(e.key, clock: clock)
        case .networkRenamed: preconditionFailure("a network rename is written whole")
        }
    }

    /// What the caller is answered.
    var answer: StoredEndpoint? {
        switch self {
        case .added(let e), .renamed(_, let e): e
        case .removed, .networkRenamed: nil
        }
    }
}

extension StoredEndpoint {
    var key: EndpointKey { EndpointKey(network: vni, mac: mac) }

    /// The endpoint as its row carries it, claimed by `owner`.
    /// - Throws: `AgentError` `bad_request`/`bad_mac` for a VNI or MAC out of range (a file
    ///   edited by hand).
    func endpoint(owner: String) throws(AgentError) -> Endpoint {
        guard let vni = VNI(vni) else { throw .badRequest("bad_request", "VNI \(vni) out of range") }
        guard let mac = MACAddress(mac) else { throw .badRequest("bad_mac", "'\(mac)' is not a MAC address") }
        return Endpoint(network: vni, mac: mac, ipv4: ip.flatMap(IPAddress.init), ipv6: ip6.flatMap(IPAddress.init),
                        name: name, aliases: OverlayRow.canonicalAliases(aliases ?? []), claim: Claim(time: claim, owner: owner))
    }
}
