public import Addresses

/// What the allocator is told. Time (`now`) is in the caller's units (the agent: milliseconds
/// of a monotonic clock), only ever compared with `reclaimAfter` and `requestTimeout`.
public enum AllocatorInput: Hashable, Sendable {
    /// This host created the network: it owns the whole pool (no consensus round).
    case create
    /// Lease an address for `id`: `address` nil for any, else exactly that one (`--ip`).
    case request(id: String, address: IPAddress?, now: UInt64)
    case release(id: String)
    /// Another host's row, as gossip delivered it (any order, any version, any number of times).
    case merge(AllocatorRow)
    /// The hosts membership counts alive now (its own view; partitions make views differ).
    case members(alive: Set<String>, now: UInt64)
    /// Expire requests older than `requestTimeout`.
    case tick(now: UInt64)
    /// Leave the network gracefully: give every range to `to` (a live host), drop the leases.
    case leave(to: String)
    /// Take the ranges of `host`, gone past `reclaimAfter`, if this host is its reclaimer.
    case reclaim(host: String, now: UInt64)
}

/// Why a request or a reclaim was refused, each naming what the user can do.
public enum AllocationRefusal: Hashable, Sendable, CustomStringConvertible {
    /// No address of the pool (inside `--ip-range`) is free on any host this host knows.
    case subnetFull
    /// Free space exists only with hosts that are not reachable now.
    case noOwnerReachable
    case inUse(IPAddress, owner: String)
    /// Outside the subnet, or reserved (network, broadcast, gateway, aux).
    case notLeasable(IPAddress)
    /// The owner did not answer within `requestTimeout`, or the address is between owners.
    case timedOut
    case alreadyLeft
    case notReclaimer(host: String, reclaimer: String?)
    case stillAlive(host: String)

    public var description: String {
        switch self {
        case .subnetFull: "every address of the pool is leased; use a larger subnet or --ip-range, or remove containers"
        case .noOwnerReachable: "the hosts that own free addresses are unreachable; retry once they are back, or reclaim a host that is gone"
        case .inUse(let ip, let owner): "\(ip) is leased on host \(owner); pick another address"
        case .notLeasable(let ip): "\(ip) is outside the subnet or reserved (network, broadcast, gateway, aux address)"
        case .timedOut: "no owner answered in time; retry"
        case .alreadyLeft: "this host has left the network"
        case .notReclaimer(let h, let r): "only \(r ?? "no host") may reclaim \(h)'s ranges"
        case .stillAlive(let h): "\(h) was seen alive within the reclaim period; it is refused while the host may be alive"
        }
    }
}

public enum AllocatorOutput: Hashable, Sendable {
    /// This host's row changed: persist it, then publish it (in that order; refuse to go on if
    /// it cannot be persisted).
    case publish(AllocatorRow)
    case leased(id: String, address: IPAddress)
    case refused(id: String, AllocationRefusal)
    case reclaimRefused(host: String, AllocationRefusal)
}

/// One host's address allocator for one network: a pure state machine (no I/O, no clock, no
/// randomness). See Docs/OVERLAY.md, "Address allocation by owned ranges", for the invariant
/// and the argument.
///
/// Persist `row` on every `.publish` before publishing it; restart with `init(host:pool:restoring:)`.
/// A host whose row is lost must come back under a new `host` name (its old name is then
/// reclaimed), never reuse the old one.
public struct AddressAllocator: Sendable {
    public let host: String
    public let pool: AddressPool
    public private(set) var row: AllocatorRow
    /// The latest row of every other host, by version.
    public private(set) var view: [String: AllocatorRow] = [:]
    public var reclaimAfter: UInt64
    public var requestTimeout: UInt64
    private var alive: Set<String> = []
    private var lastSeen: [String: UInt64] = [:]
    private var pending: [(id: String, address: UInt64?, since: UInt64)] = []

    public init(host: String, pool: AddressPool, reclaimAfter: UInt64 = 86_400_000, requestTimeout: UInt64 = 10_000) {
        self.init(host: host, pool: pool, restoring: AllocatorRow(host: host), reclaimAfter: reclaimAfter,
                  requestTimeout: requestTimeout)
    }

    public init(host: String, pool: AddressPool, restoring row: AllocatorRow, reclaimAfter: UInt64 = 86_400_000,
                requestTimeout: UInt64 = 10_000) {
        self.host = host
        self.pool = pool
        self.row = row
        self.reclaimAfter = reclaimAfter
        self.requestTimeout = requestTimeout
    }

    /// Requests waiting for a donation.
    public var pendingCount: Int { pending.count }

    public mutating func handle(_ input: AllocatorInput) -> [AllocatorOutput] {
        let before = row
        var out: [AllocatorOutput] = []
        switch input {
        case .create:
            if row.owned.isEmpty && row.version == 0 { row.owned = [OffsetSpan(0, pool.size)] }
        case .request(let id, let address, let now):
            if row.left { out.append(.refused(id: id, .alreadyLeft)); break }
            if let ip = address {
                guard let o = pool.offset(of: ip), pool.isLeasable(o) else {
                    out.append(.refused(id: id, .notLeasable(ip))); break
                }
                pending.append((id, o, now))
            } else {
                pending.append((id, nil, now))
            }
        case .release(let id):
            for (o, l) in row.leases where l == id { row.leases[o] = nil }
        case .merge(let other):
            guard other.host != host, other.version > view[other.host]?.version ?? 0 || view[other.host] == nil else { break }
            view[other.host] = other
        case .members(let members, let now):
            alive = members
            for m in members { lastSeen[m] = now }
        case .tick(let now):
            pending.removeAll { p in
                guard now >= p.since + requestTimeout else { return false }
                out.append(.refused(id: p.id, .timedOut))
                return true
            }
        case .leave(let to):
            guard !row.left else { break }
            for p in pending { out.append(.refused(id: p.id, .alreadyLeft)) }
            pending = []
            for span in row.owned {
                row.donations.append(Donation(sequence: row.nextSequence(), span: span, recipient: to))
            }
            if row.successor == nil { row.successor = to }
            row.owned = []
            row.leases = [:]
            row.left = true
        case .reclaim(let target, let now):
            if let refusal = reclaimRefusal(target, now: now) {
                out.append(.reclaimRefused(host: target, refusal))
            } else if let dead = view[target] {
                row.reclaimed[target] = dead.version
                for span in dead.owned { row.owned = Spans.insert(row.owned, span) }
                // Its marks, so that it stands in for the dead host (and for those it stood in for).
                for (key, mark) in dead.taken {
                    let k = key.contains(">") ? key : "\(key)>\(target)"
                    row.taken[k] = max(row.taken[k] ?? 0, mark)
                }
            }
        }
        settle(&out)
        if row != before {
            row.version += 1
            out.insert(.publish(row), at: 0)
        }
        return out
    }

    /// Who may reclaim `target`: the successor its own row names, or, when that host was itself
    /// reclaimed (or has left), whoever reclaimed it (or its successor), recursively; nil when
    /// the chain names no host that can act.
    public func reclaimer(of target: String) -> String? {
        var seen: Set<String> = [target]
        var current = rowOf(target)?.successor
        while let c = current, !seen.contains(c) {
            seen.insert(c)
            if let by = reclaimedBy(c) {
                current = by
            } else if let r = rowOf(c), r.left {
                // A host that left handed everything on and acts no more: its successor stands in.
                current = r.successor
            } else {
                return c
            }
        }
        return nil
    }

    /// Whether this host reclaimed `h`, or a host that reclaimed it, and so on.
    private func standsIn(for h: String) -> Bool {
        var seen: Set<String> = []
        var current = h
        while !seen.contains(current) {
            seen.insert(current)
            guard let by = reclaimedBy(current) else { return false }
            if by == host { return true }
            current = by
        }
        return false
    }

    private func rowOf(_ h: String) -> AllocatorRow? { h == host ? row : view[h] }

    private func reclaimedBy(_ h: String) -> String? {
        if row.reclaimed[h] != nil { return host }
        return view.values.first { $0.reclaimed[h] != nil }?.host
    }

    private func reclaimRefusal(_ target: String, now: UInt64) -> AllocationRefusal? {
        guard !row.left else { return .alreadyLeft }
        guard row.reclaimed[target] == nil, view[target] != nil else { return .notReclaimer(host: target, reclaimer: nil) }
        let r = reclaimer(of: target)
        guard r == host else { return .notReclaimer(host: target, reclaimer: r) }
        if alive.contains(target) { return .stillAlive(host: target) }
        if let seen = lastSeen[target], now < seen + reclaimAfter { return .stillAlive(host: target) }
        return nil
    }

    /// Applies everything the rows in view imply for this host, then serves pending requests.
    private mutating func settle(_ out: inout [AllocatorOutput]) {
        takeDonations()
        answerRequests()
        pruneDonations()
        pruneRequests()
        servePending(&out)
    }

    /// Donations addressed to this host, or to a host it reclaimed, not yet taken.
    private mutating func takeDonations() {
        for donor in view.values.sorted(by: { $0.host < $1.host }) {
            for d in donor.donations.sorted(by: { $0.sequence < $1.sequence }) {
                let key: String
                if d.recipient == host { key = donor.host }
                else if standsIn(for: d.recipient) { key = "\(donor.host)>\(d.recipient)" }
                else { continue }
                guard d.sequence > row.taken[key] ?? 0 else { continue }
                row.taken[key] = d.sequence
                if row.left {
                    // A host that has left passes what still arrives on to its successor.
                    row.donations.append(Donation(sequence: row.nextSequence(), span: d.span, recipient: row.successor ?? donor.host))
                } else {
                    row.owned = Spans.insert(row.owned, d.span)
                    if row.successor == nil { row.successor = donor.host }
                }
            }
        }
    }

    private mutating func answerRequests() {
        guard !row.left else { return }
        for requester in view.values.sorted(by: { $0.host < $1.host }) {
            for q in requester.requests.sorted(by: { $0.sequence < $1.sequence })
            where q.owner == host && q.sequence > row.answered[requester.host] ?? 0 {
                row.answered[requester.host] = q.sequence
                guard let span = donationFor(q) else { continue }
                row.owned = Spans.remove(row.owned, span)
                row.donations.append(Donation(sequence: row.nextSequence(), span: span, recipient: requester.host))
                if row.successor == nil { row.successor = requester.host }
            }
        }
    }

    /// The span to give for `q`: the one address asked for if it is free here, else the upper
    /// half of the lease-free run holding the most allocatable addresses (all of it when that
    /// half holds none).
    private func donationFor(_ q: DonationRequest) -> OffsetSpan? {
        if let a = q.address {
            guard Spans.contains(row.owned, a), row.leases[a] == nil else { return nil }
            return OffsetSpan(a, a + 1)
        }
        var best: (span: OffsetSpan, count: UInt64)?
        for run in leaseFreeRuns() {
            let c = pool.allocatableCount(run)
            if c > best?.count ?? 0 { best = (run, c) }
        }
        guard let run = best?.span else { return nil }
        let l = max(run.low, pool.rangeLow), h = min(run.high, pool.rangeHigh)
        let upper = OffsetSpan(l + (h - l) / 2, run.high)
        return pool.allocatableCount(upper) > 0 && upper.low > run.low ? upper : run
    }

    private func leaseFreeRuns() -> [OffsetSpan] {
        let leased = row.leases.keys.sorted()
        var runs: [OffsetSpan] = []
        for span in row.owned {
            var low = span.low
            for o in leased where span.contains(o) {
                if low < o { runs.append(OffsetSpan(low, o)) }
                low = o + 1
            }
            if low < span.high { runs.append(OffsetSpan(low, span.high)) }
        }
        return runs
    }

    private mutating func pruneDonations() {
        row.donations.removeAll { d in
            if let r = view[d.recipient], r.taken[host] ?? 0 >= d.sequence { return true }
            // Only a stand-in writes such a key.
            return view.values.contains { $0.taken["\(host)>\(d.recipient)"] ?? 0 >= d.sequence }
        }
    }

    private mutating func pruneRequests() {
        let open = row.requests.filter { q in
            if let o = view[q.owner], o.answered[host] ?? 0 >= q.sequence { return false }
            // Asked of a host that is gone: ask again elsewhere.
            return alive.contains(q.owner) && reclaimedBy(q.owner) == nil && view[q.owner]?.left != true
        }
        row.requests = open
    }

    private mutating func servePending(_ out: inout [AllocatorOutput]) {
        var still: [(id: String, address: UInt64?, since: UInt64)] = []
        for p in pending {
            if let a = p.address {
                if let refusal = serveAddress(p.id, a) {
                    if case .some(let r) = refusal { out.append(.refused(id: p.id, r)) }
                    continue
                }
                out.append(.leased(id: p.id, address: pool.address(a)))
            } else if let a = freeOffset() {
                row.leases[a] = p.id
                out.append(.leased(id: p.id, address: pool.address(a)))
            } else if let refusal = askForSpace() {
                out.append(.refused(id: p.id, refusal))
            } else {
                still.append(p)
            }
        }
        pending = still
    }

    /// nil: leased now. `.some(nil)`: still waiting. `.some(r)`: refused.
    private mutating func serveAddress(_ id: String, _ a: UInt64) -> AllocationRefusal?? {
        let ip = pool.address(a)
        if Spans.contains(row.owned, a) {
            if let holder = row.leases[a], holder != id { return .some(.inUse(ip, owner: host)) }
            row.leases[a] = id
            return nil
        }
        let owner = view.values.first { !$0.left && reclaimedBy($0.host) == nil && Spans.contains($0.owned, a) }
        guard let o = owner else { return .some(nil) }  // between owners: wait for the transfer
        if o.leases[a] != nil { return .some(.inUse(ip, owner: o.host)) }
        guard alive.contains(o.host) else { return .some(.noOwnerReachable) }
        if !row.requests.contains(where: { $0.owner == o.host && $0.address == a }) {
            row.requests.append(DonationRequest(sequence: row.nextSequence(), owner: o.host, address: a))
        }
        return .some(nil)
    }

    private func freeOffset() -> UInt64? {
        for span in row.owned {
            var o = max(span.low, pool.rangeLow)
            while o < min(span.high, pool.rangeHigh) {
                if row.leases[o] == nil && pool.isAllocatable(o) { return o }
                o += 1
            }
        }
        return nil
    }

    /// Single flight: at most one open request for any space. nil while one is open or was
    /// just made; a refusal when no known host can give any.
    private mutating func askForSpace() -> AllocationRefusal? {
        if row.requests.contains(where: { $0.address == nil }) { return nil }
        var best: (host: String, free: UInt64)?
        var anyFree = false
        for other in view.values.sorted(by: { $0.host < $1.host }) where !other.left && reclaimedBy(other.host) == nil {
            let free = other.owned.reduce(UInt64(0)) { $0 + pool.allocatableCount($1) }
                - UInt64(other.leases.keys.count { pool.isAllocatable($0) })
            guard free > 0 else { continue }
            anyFree = true
            if alive.contains(other.host), free > best?.free ?? 0 { best = (other.host, free) }
        }
        guard let b = best else {
            let inFlight = view.values.contains { $0.donations.contains { d in d.recipient == host } }
            if inFlight { return nil }
            return anyFree ? .noOwnerReachable : .subnetFull
        }
        row.requests.append(DonationRequest(sequence: row.nextSequence(), owner: b.host, address: nil))
        return nil
    }
}
