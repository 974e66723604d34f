import Addresses

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
    public internal(set) var row: AllocatorRow
    /// The latest row of every other host, by version.
    public private(set) var view: [String: AllocatorRow] = [:]
    public var reclaimAfter: UInt64
    public var requestTimeout: UInt64
    /// The most addresses this host leases in the network; at most `AllocatorRecord.maxLeases`,
    /// which every replica's decoding enforces.
    public var leaseLimit = AllocatorRecord.maxLeases
    var alive: Set<String> = []
    /// When a host was last counted alive (written when it drops out of `alive`).
    var lastSeen: [String: UInt64] = [:]
    /// The first time this allocator was told (hosts never seen alive count as seen then).
    var startedAt: UInt64?
    /// Reclaimed host → the host whose row records the reclaim (own row included).
    var reclaimedBy: [String: String] = [:]
    /// Allocatable addresses neither leased nor given away, per host in `view`.
    var freeInView: [String: UInt64] = [:]
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
        for dead in row.reclaimed.keys { reclaimedBy[dead] = host }
    }

    /// Requests waiting for a donation.
    public var pendingCount: Int { pending.count }

    public mutating func handle(_ input: AllocatorInput) -> [AllocatorOutput] {
        let before = row
        var out: [AllocatorOutput] = []
        // The one row whose change this input brings; nil: look at every row.
        var only: String?
        switch input {
        case .create:
            if row.owned.isEmpty && row.version == 0 { row.owned = [OffsetSpan(0, pool.size)] }
        case .request(let id, let address, let now):
            note(now)
            if row.left { out.append(.refused(id: id, .alreadyLeft)); break }
            if let by = reclaimedBy[host] { out.append(.refused(id: id, .identityReclaimed(by: by))); break }
            if let ip = address {
                guard let o = pool.offset(of: ip), pool.isLeasable(o) else {
                    out.append(.refused(id: id, .notLeasable(ip))); break
                }
                pending.append((id, o, now))
            } else {
                pending.append((id, nil, now))
            }
        case .release(let ip):
            if let o = pool.offset(of: ip) { row.leases.remove(o) }
        case .merge(let other):
            guard other.host != host else { return [] }
            let old = view[other.host]
            if let old, old.version >= other.version { return [] }
            view[other.host] = other
            freeInView[other.host] = free(of: other)
            for dead in other.reclaimed.keys where reclaimedBy[dead] == nil || other.host < reclaimedBy[dead]! {
                reclaimedBy[dead] = other.host
            }
            // A new leave or reclaim changes who stands in for whom: then every row is looked at.
            let standInsChanged = other.left != (old?.left ?? false) || other.reclaimed.count != (old?.reclaimed.count ?? 0)
            only = standInsChanged ? nil : other.host
        case .members(let members, let now):
            note(now)
            for gone in alive.subtracting(members) { lastSeen[gone] = now }
            alive = members
        case .tick(let now):
            note(now)
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
            row.leases = []
            row.requests = []
            row.left = true
        case .reclaim(let target, let now):
            note(now)
            if let refusal = reclaimRefusal(target, now: now, byOperator: false) {
                out.append(.reclaimRefused(host: target, refusal))
            } else {
                take(target)
            }
        case .operatorReclaim(let target, let now):
            note(now)
            if let refusal = reclaimRefusal(target, now: now, byOperator: true) {
                out.append(.reclaimRefused(host: target, refusal))
            } else {
                take(target)
            }
        }
        // A host that left, or whose identity was reclaimed, acts no more: its row is final.
        if !row.left && reclaimedBy[host] == nil { settle(&out, only: only) }
        if row != before {
            row.version += 1
            out.insert(.publish(row), at: 0)
        }
        return out
    }

    private mutating func note(_ now: UInt64) {
        if startedAt == nil { startedAt = now }
    }

    /// Who acts for `h` in this view: `h` itself, or, when `h` was reclaimed, whoever reclaimed
    /// it, or, when `h` has left, whoever acts for its successor; recursively. nil when the
    /// chain loops (no host of it can act).
    public func actor(for h: String) -> String? {
        var seen: Set<String> = []
        var current = h
        while seen.insert(current).inserted {
            if let by = reclaimedBy[current] {
                current = by
            } else if let r = rowOf(current), r.left {
                guard let s = r.successor else { return nil }
                current = s
            } else {
                return current
            }
        }
        return nil
    }

    /// Who may reclaim `target`: whoever acts for the successor its own row names (never
    /// `target` itself); nil when its row names none or the chain comes back to it.
    public func reclaimer(of target: String) -> String? {
        guard let s = rowOf(target)?.successor, let a = actor(for: s), a != target else { return nil }
        return a
    }

    func rowOf(_ h: String) -> AllocatorRow? { h == host ? row : view[h] }

    /// Whether this host takes what is addressed to `h` (a host it reclaimed, or that left to it,
    /// directly or down a chain).
    private func standsIn(for h: String) -> Bool { h != host && actor(for: h) == host }

    /// Whether `h` is a host that can still act (not reclaimed, not left).
    func acts(_ h: String) -> Bool { reclaimedBy[h] == nil && rowOf(h)?.left != true }

    private func free(of r: AllocatorRow) -> UInt64 {
        guard !r.left else { return 0 }
        let owned = r.owned.reduce(UInt64(0)) { $0 + pool.allocatableCount($1) }
        return owned - UInt64(r.leases.count { pool.isAllocatable($0) && Spans.contains(r.owned, $0) })
    }

    /// Applies what the rows in view (all, or `only` the one that changed) imply for this
    /// host, then serves pending requests.
    private mutating func settle(_ out: inout [AllocatorOutput], only: String?) {
        let rows: [AllocatorRow]
        if let h = only, let r = view[h] { rows = [r] } else { rows = view.values.sorted { $0.host < $1.host } }
        for r in rows { takeDonations(from: r) }
        // Its own donations to a host it now stands in for come back to it.
        takeDonations(from: row)
        for r in rows { answerRequests(of: r) }
        pruneDonations()
        pruneRequests()
        servePending(&out)
    }

    /// Donations in `donor`'s row addressed to this host, or to a host it stands in for, not
    /// yet taken.
    private mutating func takeDonations(from donor: AllocatorRow) {
        guard !donor.donations.isEmpty else { return }
        for d in donor.donations.sorted(by: { $0.sequence < $1.sequence }) {
            let key: String
            var floor: UInt64
            if d.recipient == host {
                key = donor.host
                floor = row.taken[key] ?? 0
            } else if standsIn(for: d.recipient) {
                key = "\(donor.host)>\(d.recipient)"
                floor = standInFloor(donor: donor.host, recipient: d.recipient)
            } else {
                continue
            }
            guard d.sequence > floor else { continue }
            row.taken[key] = d.sequence
            row.owned = Spans.insert(row.owned, d.span)
            if row.successor == nil { row.successor = donor.host }
        }
    }

    /// The highest donation of `donor` to `recipient` already taken by the recipient or by any
    /// host that stood in for it before this one (a host down the chain that has since left or
    /// been reclaimed), as their rows in view say.
    func standInFloor(donor: String, recipient: String) -> UInt64 {
        let key = "\(donor)>\(recipient)"
        var floor = max(row.taken[key] ?? 0, rowOf(recipient)?.taken[donor] ?? 0)
        var seen: Set<String> = []
        var current = recipient
        while seen.insert(current).inserted {
            floor = max(floor, rowOf(current)?.taken[key] ?? 0)
            if let by = reclaimedBy[current] {
                current = by
            } else if let r = rowOf(current), r.left, let s = r.successor {
                current = s
            } else {
                break
            }
        }
        return floor
    }

    private mutating func answerRequests(of requester: AllocatorRow) {
        guard !requester.requests.isEmpty, acts(requester.host) else { return }
        for q in requester.requests.sorted(by: { $0.sequence < $1.sequence })
        where q.owner == host && q.sequence > row.answered[requester.host] ?? 0 {
            row.answered[requester.host] = q.sequence
            guard let span = donationFor(q) else { continue }
            row.owned = Spans.remove(row.owned, span)
            row.donations.append(Donation(sequence: row.nextSequence(), span: span, recipient: requester.host))
            if row.successor == nil { row.successor = requester.host }
        }
    }

    /// The span to give for `q`: the one address asked for if it is free here, else the upper
    /// half of the lease-free run holding the most allocatable addresses (all of it when that
    /// half holds none).
    private func donationFor(_ q: DonationRequest) -> OffsetSpan? {
        if let a = q.address {
            guard Spans.contains(row.owned, a), !row.leases.contains(a) else { return nil }
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
        let leased = row.leases.sorted()
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

    /// Drops donations their recipient (or whoever stands in for it) has acknowledged.
    private mutating func pruneDonations() {
        guard !row.donations.isEmpty else { return }
        let acknowledged = row.donations.filter { d in
            if let r = view[d.recipient], r.taken[host] ?? 0 >= d.sequence { return true }
            guard let a = actor(for: d.recipient), a != d.recipient, let standIn = rowOf(a) else { return false }
            return standIn.taken["\(host)>\(d.recipient)"] ?? 0 >= d.sequence
        }
        if !acknowledged.isEmpty { row.donations.removeAll { acknowledged.contains($0) } }
    }

    private mutating func pruneRequests() {
        guard !row.requests.isEmpty else { return }
        row.requests = row.requests.filter { q in
            if let o = view[q.owner], o.answered[host] ?? 0 >= q.sequence { return false }
            // Asked of a host that is gone: ask again elsewhere.
            return alive.contains(q.owner) && acts(q.owner)
        }
    }

    private mutating func servePending(_ out: inout [AllocatorOutput]) {
        guard !pending.isEmpty else { return }
        var still: [(id: String, address: UInt64?, since: UInt64)] = []
        for p in pending {
            if let a = p.address {
                switch serveAddress(a) {
                case .leased: out.append(.leased(id: p.id, address: pool.address(a)))
                case .waiting: still.append(p)
                case .refused(let r): out.append(.refused(id: p.id, r))
                }
            } else if row.leases.count >= min(leaseLimit, AllocatorRecord.maxLeases) {
                out.append(.refused(id: p.id, .hostLeaseLimit))
            } else if let a = freeOffset() {
                row.leases.insert(a)
                out.append(.leased(id: p.id, address: pool.address(a)))
            } else if let refusal = askForSpace() {
                out.append(.refused(id: p.id, refusal))
            } else {
                still.append(p)
            }
        }
        pending = still
    }

    private enum Served { case leased, waiting, refused(AllocationRefusal) }

    private mutating func serveAddress(_ a: UInt64) -> Served {
        let ip = pool.address(a)
        if Spans.contains(row.owned, a) {
            if row.leases.contains(a) { return .refused(.inUse(ip, owner: host)) }
            if row.leases.count >= min(leaseLimit, AllocatorRecord.maxLeases) { return .refused(.hostLeaseLimit) }
            row.leases.insert(a)
            return .leased
        }
        let owner = view.values.first { acts($0.host) && Spans.contains($0.owned, a) }
        guard let o = owner else { return .waiting }  // between owners: wait for the transfer
        if o.leases.contains(a) { return .refused(.inUse(ip, owner: o.host)) }
        guard alive.contains(o.host) else { return .refused(.noOwnerReachable) }
        if !row.requests.contains(where: { $0.owner == o.host && $0.address == a }) {
            row.requests.append(DonationRequest(sequence: row.nextSequence(), owner: o.host, address: a))
        }
        return .waiting
    }

    private func freeOffset() -> UInt64? {
        for span in row.owned {
            var o = max(span.low, pool.rangeLow)
            while o < min(span.high, pool.rangeHigh) {
                if !row.leases.contains(o) && pool.isAllocatable(o) { return o }
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
        for (h, free) in freeInView where free > 0 && acts(h) {
            anyFree = true
            if alive.contains(h), free > best?.free ?? 0 || (free == best?.free && h < best!.host) { best = (h, free) }
        }
        guard let b = best else {
            let inFlight = view.values.contains { r in r.donations.contains { d in d.recipient == host } }
            if inFlight { return nil }
            return anyFree ? .noOwnerReachable : .subnetFull
        }
        row.requests.append(DonationRequest(sequence: row.nextSequence(), owner: b.host, address: nil))
        return nil
    }
}
