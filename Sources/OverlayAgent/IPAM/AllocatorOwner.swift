import Addresses
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Overlay
import GrapevineAPI
import Synchronization

/// Why an address was not handed out: a code for Docker's `Err` and the counters, and a
/// message naming what the user can do.
struct IPAMRefusal: Error, Sendable, Equatable {
    var code: String
    var message: String
}

/// This host's address allocators, one per Docker network and address family
/// (`AddressAllocator`, pure; a dual-stack network has an IPv4 and an IPv6 one, `PoolKey`), and
/// the only writer of them: commands go into a stream that one task, `run` (a child of the
/// agent's run), drains, each to its end (persisted, then published) before the next starts.
///
/// For each input: the allocator handles it; a changed row is encoded (refused, with the
/// allocator put back as it was, when it no longer fits a gossip row), written to `ipam.json`
/// with every other network's row (refused the same way when the write fails: nothing is
/// handed out that is not on disk), then published. A failed publish is retried every tick;
/// the disk already holds the row, so a restart publishes it too.
///
/// Fed by the agent: `.merge` from every allocator row of the replica, the definitions (a
/// network's allocator starts from the winning definition's pool; `.create` only on that
/// definition's origin, and only right after this host's own `RequestPool` of it), the alive
/// members and a 1 s tick (`.members`, `.tick`, and the automatic reclaim of hosts gone past
/// `reclaimAfter`). A host that starts without `ipam.json` takes a new incarnation (the wall
/// clock's seconds), so it never comes back under an identity whose donations it could take twice.
final class AllocatorOwner: Sendable {
    enum Command: Sendable {
        /// `RequestPool` on the network's origin, before its definition exists.
        case pool(PoolDefinition)
        /// The gateway of `subnet`: reserved in a pool being created, else the pool's.
        case gateway(subnet: Subnet, requested: IPAddress?, reply: CheckedContinuation<Result<IPAddress, IPAMRefusal>, Never>)
        /// An aux address of a pool being created.
        case aux(subnet: Subnet, IPAddress, reply: CheckedContinuation<Result<IPAddress, IPAMRefusal>, Never>)
        case request(PoolKey, address: IPAddress?, reply: CheckedContinuation<Result<IPAddress, IPAMRefusal>, Never>)
        case release(vni: VNI, address: IPAddress)
        case merge(AllocatorRecord)
        case definitions([VNI: NetworkDefinition])
        case tick
        case leave(reply: CheckedContinuation<Void, Never>)
        case reclaim(host: String, reply: CheckedContinuation<Result<[String], IPAMRefusal>, Never>)
    }

    let host: String
    private let disk: any AllocatorDisk
    private let rows: any RowPublisher
    private let logger: Logger
    private let metrics: AgentMetrics
    private let aliveNodes: @Sendable () -> Set<String>
    private let reclaimAfter: UInt64
    private let input: AsyncStream<Command>.Continuation
    private let commands: AsyncStream<Command>
    private let published = Mutex(IPAMStatus(networks: []))
    private let restored: Mutex<AllocatorFile?>

    /// Largest key plus value a gossip row may have (`stateValueSizeLimit`, 1 KB by default).
    static let rowLimit = 1_024
    static let tickInterval: Duration = .seconds(1)
    /// Milliseconds after which a request still unanswered is refused here, whatever the
    /// allocator does: past its own `requestTimeout` (10 s), so normally the allocator's
    /// `timedOut` comes first; this bounds what Docker waits if a request is ever dropped.
    static let waiterTimeout: UInt64 = 15_000

    /// - Parameter reclaimAfter: milliseconds a host's incarnation must have been gone before
    ///   its successor takes its ranges.
    /// - Throws: `StoreError` when `ipam.json` exists and cannot be read.
    init(host: String, disk: any AllocatorDisk, rows: any RowPublisher, reclaimAfter: UInt64, logger: Logger,
         metrics: AgentMetrics, aliveNodes: @escaping @Sendable () -> Set<String>) throws(StoreError) {
        self.host = host
        self.disk = disk
        self.rows = rows
        self.reclaimAfter = reclaimAfter
        self.logger = logger
        self.metrics = metrics
        self.aliveNodes = aliveNodes
        (commands, input) = AsyncStream.makeStream(of: Command.self)
        restored = Mutex(try disk.load())
    }

    // MARK: callers

    var status: IPAMStatus { published.withLock { $0 } }

    func send(_ command: Command) { input.yield(command) }

    func definePool(_ pool: PoolDefinition) { send(.pool(pool)) }

    func gateway(of subnet: Subnet, requested: IPAddress?) async -> Result<IPAddress, IPAMRefusal> {
        await withCheckedContinuation { send(.gateway(subnet: subnet, requested: requested, reply: $0)) }
    }

    func aux(_ ip: IPAddress, in subnet: Subnet) async -> Result<IPAddress, IPAMRefusal> {
        await withCheckedContinuation { send(.aux(subnet: subnet, ip, reply: $0)) }
    }

    func request(_ key: PoolKey, address: IPAddress?) async -> Result<IPAddress, IPAMRefusal> {
        await withCheckedContinuation { send(.request(key, address: address, reply: $0)) }
    }

    func reclaim(_ host: String) async -> Result<[String], IPAMRefusal> {
        await withCheckedContinuation { send(.reclaim(host: host, reply: $0)) }
    }

    /// Hands every range on to a live host, network by network (graceful leave).
    func leave() async {
        await withCheckedContinuation { send(.leave(reply: $0)) }
    }

    func finish() { input.finish() }

    // MARK: the owner's task

    func run() async {
        var state = State(host: host, file: restored.withLock { $0 }, reclaimAfter: reclaimAfter)
        restored.withLock { $0 = nil }
        for key in state.unreadable.keys.sorted() {
            metrics.rowRefused(reason: "ipam_file")
            logger.error("ipam: an entry of ipam.json does not decode; it is kept as it is, and this host hands out nothing of that network's earlier ranges (the other hosts still count them as this host's, so nobody else does either)",
                         metadata: ["ipam.entry": "\(key)"])
        }
        if state.fresh {
            logger.info("ipam: new allocator incarnation", metadata: ["ipam.identity": "\(state.identity)"])
            do { try await disk.save(state.file()) } catch {
                state.diskBroken = true
                metrics.storeError(file: "ipam.json")
                logger.error("ipam: cannot write ipam.json; addresses are refused until it can be written", metadata: ["ipam.error": "\(error)"])
            }
        }
        for key in state.networks.keys.sorted() { await publish(&state, key) }
        publishStatus(state)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [input] in
                while !Task.isCancelled {
                    do { try await Task.sleep(for: Self.tickInterval) } catch { return }
                    input.yield(.tick)
                }
            }
            for await command in commands {
                await handle(command, &state)
                publishStatus(state)
            }
            group.cancelAll()
        }
        for (_, waiter) in state.waiters { waiter.reply.resume(returning: .failure(IPAMRefusal(code: "stopped", message: "the agent is stopping"))) }
    }

    private func handle(_ command: Command, _ state: inout State) async {
        let now = state.now()
        switch command {
        case .pool(let pool):
            state.creating[pool.subnet] = pool
        case .gateway(let subnet, let requested, let reply):
            reply.resume(returning: state.gateway(subnet, requested))
        case .aux(let subnet, let ip, let reply):
            guard var pool = state.creating[subnet] else {
                reply.resume(returning: .failure(IPAMRefusal(code: "unknown_pool", message: "no pool \(subnet) is being created on this host")))
                return
            }
            pool.auxAddresses = PoolDefinition(subnet: subnet, auxAddresses: pool.auxAddresses + [ip]).auxAddresses
            do { _ = try pool.pool() } catch {
                reply.resume(returning: .failure(IPAMRefusal(code: "bad_address", message: "\(error)")))
                return
            }
            state.creating[subnet] = pool
            reply.resume(returning: .success(ip))
        case .request(let key, let address, let reply):
            guard state.networks[key] != nil else {
                reply.resume(returning: .failure(IPAMRefusal(
                    code: "no_allocator", message: "this host has no allocator for \(key) yet: no row of the network's pool has arrived; retry in a few seconds")))
                metrics.ipamRefused(reason: "no_allocator")
                return
            }
            if state.diskBroken { await retryDisk(&state) }
            if state.diskBroken {
                reply.resume(returning: .failure(IPAMRefusal(code: "store", message: "ipam.json cannot be written; see the agent's log")))
                metrics.ipamRefused(reason: "store")
                return
            }
            // An address this host already leases: Docker's RequestAddress names no container,
            // so a second `--ip` of it cannot be told from a repeat; refused, as another host's
            // lease is, since handing it out again could give it to two containers.
            if let ip = address, let n = state.networks[key], let o = n.allocator.pool.offset(of: ip), n.allocator.row.leases.contains(o) {
                reply.resume(returning: .failure(IPAMRefusal(code: "address_in_use", message: "\(ip) is already leased on this host; pick another address")))
                metrics.ipamRefused(reason: "address_in_use")
                return
            }
            // Who is alive now, not at the last tick: a row merged since then names an owner
            // to ask, and the allocator asks only live ones.
            await apply(&state, key, .members(alive: state.aliveIdentities(nodes: aliveNodes()), now: now))
            let id = state.nextLeaseID()
            state.waiters[id] = Waiter(key: key, since: now, reply: reply)
            await apply(&state, key, .request(id: id, address: address, now: now))
        case .release(let vni, let address):
            let key = PoolKey(vni, of: address)
            guard let n = state.networks[key], let o = n.allocator.pool.offset(of: address), n.allocator.row.leases.contains(o) else { return }
            await apply(&state, key, .release(address: address))
        case .merge(let record):
            guard record.row.host != state.identity else { return }
            let key = PoolKey(record)
            state.records[key, default: [:]][record.row.host] = record
            await adopt(&state, key)
            if state.networks[key] != nil { await apply(&state, key, .merge(record.row)) }
        case .definitions(let definitions):
            state.definitions = definitions
            for (vni, d) in definitions.sorted(by: { $0.key < $1.key }) {
                for key in [PoolKey(vni, ipv6: false), PoolKey(vni, ipv6: true)] {
                    // A network's IPv6 pool goes with its definition's IPv6 subnet.
                    if d.deleted || (key.ipv6 && d.subnet6 == nil) {
                        await drop(&state, key)
                    } else {
                        await adopt(&state, key)
                    }
                }
            }
        case .tick:
            for (id, w) in state.waiters where now >= w.since + Self.waiterTimeout {
                logger.warning("ipam: a request got no answer from the allocator; refused", metadata: ["network.vni": "\(w.key.vni)", "ipam.pool": "\(w.key)", "ipam.request": "\(id)"])
                metrics.ipamRefused(reason: "timed_out")
                state.abandoned.insert(id)
                state.answer(id, .failure(IPAMRefusal(code: "timed_out", message: "no owner answered in time; retry")))
            }
            for key in state.networks.keys.sorted() {
                // Rows merged while the disk refused were undone with the change: again.
                if state.diskBroken {
                    for r in (state.records[key] ?? [:]).values.sorted(by: { $0.row.host < $1.row.host }) { await apply(&state, key, .merge(r.row)) }
                }
                await apply(&state, key, .members(alive: state.aliveIdentities(nodes: aliveNodes()), now: now))
                await apply(&state, key, .tick(now: now))
                for identity in state.reclaimable(key, nodes: aliveNodes()) {
                    await apply(&state, key, .reclaim(host: identity, now: now), quiet: true)
                }
                if state.networks[key]?.unpublished == true { await publish(&state, key) }
            }
            if state.diskBroken { await retryDisk(&state) }
        case .leave(let reply):
            for key in state.networks.keys.sorted() {
                let alive = state.aliveIdentities(nodes: aliveNodes()).subtracting([state.identity])
                guard let to = alive.sorted().first else {
                    logger.warning("ipam: no live host to hand this host's ranges to; they stay until it comes back or is reclaimed",
                                   metadata: ["network.vni": "\(key.vni)", "ipam.pool": "\(key)"])
                    continue
                }
                await apply(&state, key, .leave(to: to))
            }
            reply.resume()
        case .reclaim(let target, let reply):
            var taken: [String] = []
            var refusals: [String] = []
            for key in state.networks.keys.sorted() {
                let candidates = state.records[key, default: [:]].keys.filter {
                    $0 == target || AllocatorRecord.owner(of: $0) == target
                }
                for identity in candidates.sorted() {
                    let before = state.networks[key]?.allocator.row.reclaimed[identity]
                    let out = await apply(&state, key, .operatorReclaim(host: identity, now: now), quiet: true)
                    for case .reclaimRefused(_, let r) in out { refusals.append("\(key), \(identity): \(r)") }
                    if before == nil, state.networks[key]?.allocator.row.reclaimed[identity] != nil { taken.append("\(key.tag):\(identity)") }
                }
            }
            if taken.isEmpty {
                let message = refusals.isEmpty ? "no allocator row of \(target) is known here" : refusals.joined(separator: "; ")
                reply.resume(returning: .failure(IPAMRefusal(code: refusals.isEmpty ? "unknown_host" : "refused", message: message)))
            } else {
                logger.notice("ipam: ranges reclaimed by hand", metadata: ["ipam.reclaimed": "\(taken)"])
                reply.resume(returning: .success(taken))
            }
        }
    }

    /// Starts the allocator of one pool of a network once the pool is known: this host's own
    /// `RequestPool` when it is the winning definition's origin (then `.create`: it owns the
    /// whole pool), else any other host's row of the pool. The IPv6 pool is the definition's
    /// `subnet6`; a network without one has none.
    private func adopt(_ state: inout State, _ key: PoolKey) async {
        guard state.networks[key] == nil, let d = state.definitions[key.vni], !d.deleted,
              let subnet = key.ipv6 ? d.subnet6 : d.subnet else { return }
        if d.origin == host, let pool = state.creating[subnet], let offsets = try? pool.pool() {
            state.creating[subnet] = nil
            state.networks[key] = Network(allocator: AddressAllocator(host: state.identity, pool: offsets, reclaimAfter: reclaimAfter), pool: pool)
            await apply(&state, key, .create)
            guard state.networks[key]?.value.isEmpty == false else {
                // Not on disk (the write failed): not taken. The pool waits for the next
                // definitions, as if this had not happened; an allocator left owning nothing
                // would refuse every address of the network for good.
                state.networks[key] = nil
                state.creating[subnet] = pool
                return
            }
            logger.info("ipam: this host created the network and owns its whole pool", metadata: ["network.vni": "\(key.vni)", "ipam.subnet": "\(subnet)"])
        } else if let record = state.records[key]?.values.sorted(by: { $0.row.host < $1.row.host }).first(where: { $0.pool.subnet == subnet }),
                  let offsets = try? record.pool.pool() {
            state.networks[key] = Network(allocator: AddressAllocator(host: state.identity, pool: offsets, reclaimAfter: reclaimAfter), pool: record.pool)
        } else {
            return
        }
        for record in (state.records[key] ?? [:]).values.sorted(by: { $0.row.host < $1.row.host }) where record.pool.subnet == subnet {
            await apply(&state, key, .merge(record.row))
        }
    }

    /// After a failed write: `ipam.json` written again as the allocators stand (every change
    /// that failed to be written was undone, so this is what the file held, or should have).
    /// Addresses are handed out again once it works.
    private func retryDisk(_ state: inout State) async {
        do {
            try await disk.save(state.file())
            state.diskBroken = false
        } catch {
            metrics.storeError(file: "ipam.json")
        }
    }

    /// The network (or its IPv6 subnet) was deleted: its allocator, row and file entry go.
    private func drop(_ state: inout State, _ key: PoolKey) async {
        guard let n = state.networks.removeValue(forKey: key) else { return }
        state.records[key] = nil
        do { try await disk.save(state.file()) } catch {
            metrics.storeError(file: "ipam.json")
            logger.warning("ipam: cannot write ipam.json", metadata: ["ipam.error": "\(error)"])
        }
        let row = OverlayRow.allocator(AllocatorRecord(vni: key.vni, incarnation: state.incarnation, pool: n.pool, row: n.allocator.row))
        do { try await rows.delete(row) } catch {
            metrics.publishError(operation: "ipam")
        }
    }

    /// One input to one network's allocator, then persist, publish and answer what it says.
    @discardableResult
    private func apply(_ state: inout State, _ key: PoolKey, _ input: AllocatorInput, quiet: Bool = false) async -> [AllocatorOutput] {
        let vni = key.vni
        guard var n = state.networks[key] else { return [] }
        let saved = n
        let out = n.allocator.handle(input)
        var pendingReleases: [IPAddress] = []
        if case .publish(let row)? = out.first {
            let record = AllocatorRecord(vni: vni, incarnation: state.incarnation, pool: n.pool, row: row)
            let overlayRow = OverlayRow.allocator(record)
            let refusal: IPAMRefusal?
            let value: [UInt8]?
            do { value = try overlayRow.value() } catch {
                logger.error("ipam: this host's allocator row does not encode; the change is undone", metadata: ["network.vni": "\(vni)", "ipam.error": "\(error)"])
                value = nil
            }
            if let value, value.count + overlayRow.stateKey.utf8.count <= Self.rowLimit {
                state.networks[key] = n
                state.networks[key]?.value = value
                do {
                    try await disk.save(state.file())
                    state.diskBroken = false
                    refusal = nil
                } catch {
                    metrics.storeError(file: "ipam.json")
                    logger.error("ipam: cannot write ipam.json; the change is undone and addresses are refused", metadata: ["ipam.error": "\(error)"])
                    state.diskBroken = true
                    refusal = IPAMRefusal(code: "store", message: "cannot record the allocation in ipam.json: \(error)")
                }
            } else if value == nil {
                refusal = IPAMRefusal(code: "row_invalid", message: "this host's allocator row would not encode (see the agent's log); the change is undone")
            } else {
                logger.warning("ipam: this host's allocator row would not fit a gossip row; the change is undone", metadata: ["network.vni": "\(vni)"])
                refusal = IPAMRefusal(code: "row_too_large", message: "this host holds too many leases or ranges of the network for one row; start the container on another host")
            }
            if let refusal {
                state.networks[key] = saved
                for case .leased(let id, _) in out { state.answer(id, .failure(refusal)) }
                if case .request(let id, _, _) = input { state.answer(id, .failure(refusal)) }
                metrics.ipamRefused(reason: refusal.code)
                return []
            }
            await publish(&state, key)
        } else {
            state.networks[key] = n
        }
        for o in out {
            switch o {
            case .publish: break
            case .leased(let id, let address):
                if state.abandoned.remove(id) != nil {
                    // Docker was told no: the address goes back at once.
                    pendingReleases.append(address)
                    continue
                }
                metrics.ipamLeased()
                state.answer(id, .success(address))
            case .refused(let id, let r):
                metrics.ipamRefused(reason: Self.code(r))
                state.answer(id, .failure(IPAMRefusal(code: Self.code(r), message: r.description)))
            case .reclaimRefused(let h, let r):
                if !quiet { logger.info("ipam: reclaim refused", metadata: ["ipam.host": "\(h)", "ipam.reason": "\(r)"]) }
            }
        }
        for address in pendingReleases { await apply(&state, key, .release(address: address)) }
        return out
    }

    private func publish(_ state: inout State, _ key: PoolKey) async {
        guard let n = state.networks[key] else { return }
        let row = OverlayRow.allocator(AllocatorRecord(vni: key.vni, incarnation: state.incarnation, pool: n.pool, row: n.allocator.row))
        do {
            try await rows.write(row)
            state.networks[key]?.unpublished = false
        } catch {
            state.networks[key]?.unpublished = true
            metrics.publishError(operation: "ipam")
            logger.info("ipam: row not published yet; retried", metadata: ["network.vni": "\(key.vni)", "ipam.pool": "\(key)", "ipam.error": "\(error)"])
        }
    }

    static func code(_ r: AllocationRefusal) -> String {
        switch r {
        case .subnetFull: "exhausted"
        case .noOwnerReachable: "no_owner_reachable"
        case .inUse: "address_in_use"
        case .notLeasable: "bad_address"
        case .timedOut: "timed_out"
        case .alreadyLeft: "left"
        case .notReclaimer: "not_reclaimer"
        case .stillAlive: "still_alive"
        case .waitingFor: "waiting_for_host"
        case .identityReclaimed: "identity_reclaimed"
        case .hostLeaseLimit: "host_lease_limit"
        }
    }

    private func publishStatus(_ state: State) {
        let nodes = aliveNodes()
        var networks: [IPAMNetworkStatus] = []
        var leases = 0
        var free: UInt64 = 0
        for (key, n) in state.networks.sorted(by: { $0.key < $1.key }) {
            let alive = state.aliveIdentities(nodes: nodes)
            let rows = [n.allocator.row] + n.allocator.view.values
            let hosts = rows.sorted { $0.host < $1.host }.map { r in
                IPAMHostStatus(identity: r.host, host: AllocatorRecord.owner(of: r.host) ?? r.host, alive: alive.contains(r.host),
                               ranges: r.owned.map { "\(n.allocator.pool.address($0.low))-\(n.allocator.pool.address($0.high - 1))" },
                               leased: r.leases.count, free: Self.free(r, n.allocator.pool), requests: r.requests.count,
                               donations: r.donations.count, left: r.left, successor: r.successor)
            }
            leases += n.allocator.row.leases.count
            free += Self.free(n.allocator.row, n.allocator.pool)
            networks.append(IPAMNetworkStatus(
                vni: key.vni.value, name: state.definitions[key.vni]?.name, subnet: n.pool.subnet.description,
                ipRange: n.pool.ipRange?.description, gateway: n.pool.gateway?.description,
                auxAddresses: n.pool.auxAddresses.map(\.description), identity: state.identity,
                pending: n.allocator.pendingCount, hosts: hosts))
        }
        metrics.setIPAM(leases: leases, free: free)
        let status = IPAMStatus(networks: networks)
        published.withLock { $0 = status }
    }

    static func free(_ row: AllocatorRow, _ pool: AddressPool) -> UInt64 {
        var count: UInt64 = 0
        for span in row.owned {
            let low = max(span.low, pool.rangeLow), high = min(span.high, pool.rangeHigh)
            guard low < high else { continue }
            count += high - low - UInt64(pool.reserved.count { $0 >= low && $0 < high })
        }
        let leased = UInt64(row.leases.count { pool.isAllocatable($0) })
        return count >= leased ? count - leased : 0
    }
}

extension AllocatorOwner {
    struct Waiter {
        let key: PoolKey
        /// `State.now()` when asked.
        let since: UInt64
        let reply: CheckedContinuation<Result<IPAddress, IPAMRefusal>, Never>
    }

    struct Network {
        var allocator: AddressAllocator
        var pool: PoolDefinition
        /// The row's bytes as last persisted.
        var value: [UInt8] = []
        var unpublished = false
    }

    /// Everything the owner's task keeps; only `run` touches it.
    struct State {
        let incarnation: UInt32
        let identity: String
        /// No `ipam.json` was found: a new incarnation.
        let fresh: Bool
        let started = ContinuousClock.now
        var networks: [PoolKey: Network] = [:]
        /// Every other allocator's latest row, per network and family.
        var records: [PoolKey: [String: AllocatorRecord]] = [:]
        var definitions: [VNI: NetworkDefinition] = [:]
        /// Pools this host's dockerd asked for, not yet tied to a network definition.
        var creating: [Subnet: PoolDefinition] = [:]
        var waiters: [String: Waiter] = [:]
        /// Requests refused here for want of an answer: a lease the allocator makes for one
        /// later is released.
        var abandoned: Set<String> = []
        var diskBroken = false
        /// Entries of `ipam.json` that did not decode (`PoolKey.tag` → bytes), kept untouched.
        var unreadable: [String: Data] = [:]
        private var leaseCounter: UInt64 = 0

        init(host: String, file: AllocatorFile?, reclaimAfter: UInt64) {
            if let file {
                incarnation = file.incarnation
                fresh = false
            } else {
                incarnation = UInt32(clamping: Int64(Date().timeIntervalSince1970))
                fresh = true
            }
            identity = AllocatorRecord.identity(owner: host, incarnation: incarnation)
            for (tag, data) in file?.networks ?? [:] {
                guard let key = PoolKey(tag: tag),
                      case .allocator(let r)? = try? OverlayRow(key: OverlayRow.allocatorKey(vni: key.vni, incarnation: incarnation, ipv6: key.ipv6),
                                                                 value: Array(data), owner: host),
                      let offsets = try? r.pool.pool() else {
                    // Kept as it is, written back with every save, and reported at start: what
                    // the file held is never dropped by a rewrite.
                    unreadable[tag] = data
                    continue
                }
                networks[key] = Network(allocator: AddressAllocator(host: identity, pool: offsets, restoring: r.row, reclaimAfter: reclaimAfter),
                                        pool: r.pool, value: Array(data), unpublished: true)
            }
        }

        /// Milliseconds since this process started: only compared with periods.
        func now() -> UInt64 {
            let d = ContinuousClock.now - started
            return UInt64(d.components.seconds) * 1_000 + UInt64(d.components.attoseconds / 1_000_000_000_000_000)
        }

        mutating func nextLeaseID() -> String {
            leaseCounter += 1
            return "r\(leaseCounter)"
        }

        mutating func answer(_ id: String, _ result: Result<IPAddress, IPAMRefusal>) {
            waiters.removeValue(forKey: id)?.reply.resume(returning: result)
        }

        func file() -> AllocatorFile {
            var f = AllocatorFile(incarnation: incarnation, networks: unreadable)
            for (key, n) in networks where !n.value.isEmpty { f.networks[key.tag] = Data(n.value) }
            return f
        }

        /// Per node, its newest incarnation is the one that may be alive.
        func aliveIdentities(nodes: Set<String>) -> Set<String> {
            var newest: [String: UInt32] = [:]
            for r in records.values.flatMap(\.values) {
                guard let owner = AllocatorRecord.owner(of: r.row.host) else { continue }
                newest[owner] = max(newest[owner] ?? 0, r.incarnation)
            }
            var out: Set<String> = [identity]
            for (owner, inc) in newest where nodes.contains(owner) && owner != AllocatorRecord.owner(of: identity) {
                out.insert(AllocatorRecord.identity(owner: owner, incarnation: inc))
            }
            return out
        }

        /// Identities of the pool `key` not alive that still own ranges: the allocator takes them
        /// only when this host is their reclaimer and they have been gone past `reclaimAfter`.
        func reclaimable(_ key: PoolKey, nodes: Set<String>) -> [String] {
            let alive = aliveIdentities(nodes: nodes)
            return (records[key] ?? [:]).values.filter { !alive.contains($0.row.host) && !$0.row.owned.isEmpty }.map(\.row.host).sorted()
        }

        /// The gateway of a pool being created here (the one asked for, else the first
        /// address), or of a network whose pool is known.
        mutating func gateway(_ subnet: Subnet, _ requested: IPAddress?) -> Result<IPAddress, IPAMRefusal> {
            if var pool = creating[subnet] {
                guard let gw = requested ?? (try? AddressPool(subnet: subnet).address(1)) else {
                    return .failure(IPAMRefusal(code: "bad_subnet", message: "\(subnet) has no address for a gateway"))
                }
                pool.gateway = gw
                do { _ = try pool.pool() } catch { return .failure(IPAMRefusal(code: "bad_address", message: "\(error)")) }
                creating[subnet] = pool
                return .success(gw)
            }
            if let known = networks.values.first(where: { $0.pool.subnet == subnet })?.pool
                ?? records.values.flatMap(\.values).first(where: { $0.pool.subnet == subnet })?.pool,
               let gw = known.gateway {
                return .success(gw)
            }
            return .failure(IPAMRefusal(code: "no_allocator", message: "the pool of \(subnet) has not arrived from the host that created it yet; retry in a few seconds"))
        }
    }
}
