import struct GrapevineTestSupport.SplitMix
import Addresses
@testable import Overlay

/// A seeded model of hosts running `AddressAllocator`s for one network and exchanging rows:
/// random delivery order, drops, partitions into two sides, crashes, restarts with the
/// persisted row or without it (under a new identity), graceful leaves, concurrent requests on
/// one host. `violations` collects every breach of the invariants, checked after every step.
struct AllocatorCluster {
    enum Slot {
        case up(AddressAllocator)
        /// Crashed; the persisted row, nil when the data directory is lost.
        case down(AllocatorRow?)
        case gone
    }

    let pool: AddressPool
    var rng: SplitMix
    var now: UInt64 = 0
    var slots: [Slot] = []
    var names: [String] = []
    var incarnation: [Int] = []
    var side: [Int] = []
    var queue: [(to: Int, row: AllocatorRow)] = []
    /// Address offset → the container (request id) holding it, as the requests' answers said.
    var containers: [UInt64: String] = [:]
    var containerHost: [String: Int] = [:]
    /// Identities whose row was lost: never back, reclaimed at the end.
    var orphans: [String] = []
    var violations: [String] = []
    /// The last rows of hosts that left: a leaving host stays until the replica holds it.
    var finalRows: [AllocatorRow] = []
    /// The replicated rows a crashed host persisted with its own row.
    var downViews: [Int: [AllocatorRow]] = [:]
    var leasedCount = 0
    var requestCount = 0
    /// Orphans reclaimed by `operatorReclaim` in `makeWhole`, because the rule named no host
    /// that could act (a successor chain that loops through lost identities).
    var operatorReclaims = 0

    init(hosts: Int, pool: AddressPool, seed: UInt64) {
        self.pool = pool
        rng = SplitMix(seed: seed)
        for i in 0..<hosts {
            names.append("h\(i)")
            incarnation.append(0)
            side.append(0)
            slots.append(.up(AddressAllocator(host: "h\(i)", pool: pool, reclaimAfter: 1_000, requestTimeout: 500)))
        }
        updateMembers()
        apply(0, .create)
    }

    var upIndices: [Int] { slots.indices.filter { if case .up = slots[$0] { true } else { false } } }

    @discardableResult
    mutating func apply(_ i: Int, _ input: AllocatorInput) -> [AllocatorOutput] {
        guard case .up(var a) = slots[i] else { return [] }
        // Out of the slot while it runs, so its dictionaries are not copied on write.
        slots[i] = .gone
        let out = a.handle(input)
        slots[i] = .up(a)
        for o in out {
            switch o {
            case .publish(let row):
                for j in slots.indices where j != i { queue.append((j, row)) }
            case .leased(let id, let address):
                leasedCount += 1
                guard let off = pool.offset(of: address) else { violations.append("\(id) got \(address) outside the pool"); continue }
                if !pool.isLeasable(off) { violations.append("\(id) got reserved \(address)") }
                if let holder = containers[off], holder != id {
                    violations.append("\(address) given to \(id) on \(names[i]) while \(holder) holds it")
                }
                containers[off] = id
                containerHost[id] = i
            case .refused, .reclaimRefused:
                break
            }
        }
        return out
    }

    /// Each live host learns who it can reach: the live hosts on its side.
    mutating func updateMembers() {
        let up = upIndices
        var bySide: [Int: Set<String>] = [:]
        for i in up { bySide[side[i], default: []].insert(names[i]) }
        for i in up { apply(i, .members(alive: bySide[side[i]]!, now: now)) }
    }

    mutating func step() {
        let roll = Int.random(in: 0..<100, using: &rng)
        let up = upIndices
        switch roll {
        case 0..<50:
            // Several per step on larger clusters, where every change goes to every host.
            for _ in 0..<(1 + slots.count / 4) { deliverOne(dropChance: 10) }
        case 50..<62:
            guard let i = up.randomElement(using: &rng) else { break }
            // Concurrent requests on one host: several before any answer arrives.
            for _ in 0..<Int.random(in: 1...3, using: &rng) { request(at: i, address: nil) }
        case 62..<65:
            guard let i = up.randomElement(using: &rng) else { break }
            request(at: i, address: pool.address(UInt64.random(in: 0..<pool.size, using: &rng)))
        case 65..<74:
            // A container is removed on a live host only (its lease stays in a crashed host's row).
            // Sorted: a dictionary's order changes from process to process, a seed must replay.
            guard let off = containers.keys.sorted().randomElement(using: &rng), let id = containers[off],
                  let i = containerHost[id],
                  case .up = slots[i] else { break }
            containers[off] = nil
            apply(i, .release(address: pool.address(off)))
        case 74..<76:
            if Bool.random(using: &rng) {
                side = side.map { _ in 0 }
            } else {
                side = side.map { _ in Int.random(in: 0...1, using: &rng) }
            }
            updateMembers()
        case 76..<77:
            guard up.count > 1, let i = up.randomElement(using: &rng), case .up(let a) = slots[i] else { break }
            // A host that never gave or took a range names no successor: losing its row strands
            // its ranges (documented), so the model loses only rows that name one.
            let lose = a.row.successor != nil && Int.random(in: 0..<10, using: &rng) < 3
            crash(i, keep: lose ? nil : a.row)
        case 77..<79:
            restartOne()
        case 79..<80:
            // Leaves keep at least half the hosts, so runs do not end with one or two.
            guard up.count > max(2, slots.count / 2), let i = up.randomElement(using: &rng), i != 0 else { break }
            let peers = up.filter { $0 != i && side[$0] == side[i] }
            guard let to = peers.randomElement(using: &rng) else { break }
            for (off, id) in containers where containerHost[id] == i { containers[off] = nil }
            if case .publish(let last) = apply(i, .leave(to: names[to])).first { finalRows.append(last) }
            slots[i] = .gone
            updateMembers()
        case 80..<86:
            guard let i = up.randomElement(using: &rng), case .up(let a) = slots[i] else { break }
            for j in slots.indices where j != i { queue.append((j, a.row)) }
        default:
            now += UInt64.random(in: 1...100, using: &rng)
            for i in up { apply(i, .tick(now: now)) }
        }
        check()
    }

    mutating func request(at i: Int, address: IPAddress?) {
        requestCount += 1
        apply(i, .request(id: "c\(requestCount)", address: address, now: now))
    }

    /// True when the delivery changed the receiver's row.
    @discardableResult
    mutating func deliverOne(dropChance: Int) -> Bool {
        guard !queue.isEmpty else { return false }
        let k = Int.random(in: 0..<queue.count, using: &rng)
        queue.swapAt(k, queue.count - 1)
        let m = queue.removeLast()
        // A row sent across the partition or to a dead host is lost; anti-entropy resends.
        guard side[m.to] == side[indexOf(m.row.host) ?? m.to], Int.random(in: 0..<100, using: &rng) >= dropChance else { return false }
        return apply(m.to, .merge(m.row)).contains { if case .publish = $0 { true } else { false } }
    }

    /// The slot of the host now named `host` (names are `h<slot>` or `h<slot>.<incarnation>`).
    func indexOf(_ host: String) -> Int? {
        guard let i = Int(host.dropFirst().prefix { $0 != "." }), names.indices.contains(i), names[i] == host else { return nil }
        return i
    }

    mutating func crash(_ i: Int, keep row: AllocatorRow?) {
        let before = slots[i]
        downViews[i] = nil
        slots[i] = .down(row)
        // The data directory holds the replica too: the rows this host had are back on restart.
        if row != nil, case .up(let a) = before { downViews[i] = a.view.values.sorted { $0.host < $1.host } }
        if row == nil {
            orphans.append(names[i])
            for (off, id) in containers where containerHost[id] == i { containers[off] = nil }
        }
        updateMembers()
    }

    mutating func restartOne() {
        let down = slots.indices.filter { if case .down = slots[$0] { true } else { false } }
        guard let i = down.randomElement(using: &rng) else { return }
        restart(i)
    }

    mutating func restart(_ i: Int) {
        guard case .down(let kept) = slots[i] else { return }
        let persisted = downViews.removeValue(forKey: i) ?? []
        if let row = kept {
            slots[i] = .up(AddressAllocator(host: names[i], pool: pool, restoring: row, reclaimAfter: 1_000, requestTimeout: 500))
            // Its row may be newer than any copy elsewhere: publish it, as the shell does on start.
            for j in slots.indices where j != i { queue.append((j, row)) }
        } else {
            incarnation[i] += 1
            names[i] = "h\(i).\(incarnation[i])"
            slots[i] = .up(AddressAllocator(host: names[i], pool: pool, reclaimAfter: 1_000, requestTimeout: 500))
        }
        // A restarted host learns every row again (state sync: the replicated state holds the
        // rows of hosts that are down, gone or lost too).
        for r in persisted + knownRows.values.sorted(by: { $0.host < $1.host }) where r.host != names[i] { apply(i, .merge(r)) }
        updateMembers()
    }

    /// The newest copy of every host's row that a live host holds, or a crashed one persisted.
    var knownRows: [String: AllocatorRow] {
        var newest: [String: AllocatorRow] = [:]
        func offer(_ r: AllocatorRow) {
            if r.version >= newest[r.host]?.version ?? 0 { newest[r.host] = r }
        }
        for r in downRows + finalRows { offer(r) }
        for i in upIndices {
            guard case .up(let a) = slots[i] else { continue }
            offer(a.row)
            for r in a.view.values { offer(r) }
        }
        return newest
    }

    /// Rows of crashed hosts, as the survivors' replicas still hold them.
    var downRows: [AllocatorRow] {
        slots.compactMap { if case .down(let r?) = $0 { r } else { nil } }
    }

    /// The rows of every host that can still act: live, or crashed with its row kept.
    var actingRows: [AllocatorRow] {
        slots.compactMap {
            switch $0 {
            case .up(let a): a.row
            case .down(let r): r
            case .gone: nil
            }
        }
    }

    mutating func check() {
        var owner: [UInt64: String] = [:]
        var ownedSpans: [(OffsetSpan, String)] = []
        for r in actingRows {
            for s in r.owned { ownedSpans.append((s, r.host)) }
            for o in r.leases where !Spans.contains(r.owned, o) {
                violations.append("\(r.host) leases \(o) outside its ranges")
            }
            for o in r.leases {
                if let h = owner[o] { violations.append("\(o) leased by \(h) and \(r.host)") }
                owner[o] = r.host
            }
        }
        ownedSpans.sort { $0.0.low < $1.0.low }
        for (a, b) in zip(ownedSpans, ownedSpans.dropFirst()) where a.0.high > b.0.low {
            violations.append("\(a.0) owned by \(a.1) overlaps \(b.0) owned by \(b.1)")
        }
    }

    /// Heals the cluster, restarts every crashed host with its row, has each orphan reclaimed
    /// by the host the rule names, and delivers until nothing changes. Orphans the rule leaves
    /// to nobody (a successor chain looping through lost identities) are reclaimed by the
    /// operator (`operatorReclaim` on the lowest live host), one at a time, after which the
    /// rule is tried again; `operatorReclaims` counts them.
    mutating func makeWhole() {
        side = side.map { _ in 0 }
        for i in slots.indices { if case .down(_?) = slots[i] { restart(i) } }
        updateMembers()
        quiesce()
        now += 10_000
        updateMembers()
        for _ in 0..<(2 * orphans.count + 2) {
            guard let probe = upIndices.first, case .up(let p) = slots[probe] else { return }
            let remaining = orphans.filter { p.actor(for: $0) == $0 }
            if remaining.isEmpty { return }
            var acted = false
            for dead in remaining {
                let reclaimers = upIndices.filter { j in
                    if case .up(let a) = slots[j] { a.reclaimer(of: dead) == names[j] } else { false }
                }
                if reclaimers.count > 1 { violations.append("\(dead) has reclaimers \(reclaimers.map { names[$0] })") }
                for j in reclaimers {
                    let out = apply(j, .reclaim(host: dead, now: now))
                    if out.contains(where: { if case .publish = $0 { true } else { false } }) { acted = true }
                }
            }
            quiesce()
            check()
            if !acted {
                operatorReclaims += 1
                apply(probe, .operatorReclaim(host: remaining[0], now: now))
                quiesce()
                check()
            }
        }
        violations.append("orphans left unreclaimed")
    }

    /// Delivers every row until a full round changes nothing; with `resend`, the newest copy of
    /// every row a live host holds is sent to everyone first (the replica's state sync, which
    /// also carries the rows of hosts that are down, gone or lost).
    mutating func quiesce(resend: Bool = true) {
        for round in 0..<50 {
            // Deliveries are reliable here: one full resend makes up for every earlier drop.
            if resend && round == 0 {
                let up = upIndices
                for r in knownRows.values.sorted(by: { $0.host < $1.host }) { for j in up where names[j] != r.host { queue.append((j, r)) } }
            }
            let before = actingRows
            // A delivery that changes no row cannot break the invariants: check after the others.
            while !queue.isEmpty { if deliverOne(dropChance: 0) { check() } }
            if actingRows == before { return }
        }
        violations.append("no quiescence after 50 rounds")
    }

    /// Offsets that may be handed out and no live container holds.
    var freeAllocatable: [UInt64] {
        (0..<pool.size).filter { pool.isAllocatable($0) && containers[$0] == nil }
    }

    /// Spans of the pool no acting host owns.
    var unowned: [OffsetSpan] {
        var gaps: [OffsetSpan] = []
        var next: UInt64 = 0
        for s in actingRows.flatMap(\.owned).sorted() {
            if s.low > next { gaps.append(OffsetSpan(next, s.low)) }
            next = max(next, s.high)
        }
        if next < pool.size { gaps.append(OffsetSpan(next, pool.size)) }
        return gaps
    }

    /// Free allocatable offsets that no live host could hand out at once: not owned by a live
    /// host, or leased in its row although no container holds them.
    var unservable: [UInt64] {
        var owner: [(OffsetSpan, AllocatorRow)] = []
        for i in upIndices { if case .up(let a) = slots[i] { for s in a.row.owned { owner.append((s, a.row)) } } }
        owner.sort { $0.0.low < $1.0.low }
        var k = 0
        var out: [UInt64] = []
        for o in freeAllocatable {
            while k < owner.count && owner[k].0.high <= o { k += 1 }
            guard k < owner.count, owner[k].0.contains(o), !owner[k].1.leases.contains(o) else { out.append(o); continue }
        }
        return out
    }
}
