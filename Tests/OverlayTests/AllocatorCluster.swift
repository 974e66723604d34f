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
    var leasedCount = 0
    var requestCount = 0

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

    mutating func apply(_ i: Int, _ input: AllocatorInput) {
        guard case .up(var a) = slots[i] else { return }
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
    }

    /// Each live host learns who it can reach: the live hosts on its side.
    mutating func updateMembers() {
        for i in upIndices {
            let alive = Set(upIndices.filter { side[$0] == side[i] }.map { names[$0] })
            apply(i, .members(alive: alive, now: now))
        }
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
            guard let (off, id) = containers.randomElement(using: &rng), let i = containerHost[id] else { break }
            containers[off] = nil
            apply(i, .release(id: id))
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
            guard up.count > 2, let i = up.randomElement(using: &rng), i != 0 else { break }
            let peers = up.filter { $0 != i && side[$0] == side[i] }
            guard let to = peers.randomElement(using: &rng) else { break }
            for (off, id) in containers where containerHost[id] == i { containers[off] = nil }
            apply(i, .leave(to: names[to]))
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

    mutating func deliverOne(dropChance: Int) {
        guard !queue.isEmpty else { return }
        let k = Int.random(in: 0..<queue.count, using: &rng)
        let m = queue.remove(at: k)
        // A row sent across the partition or to a dead host is lost; anti-entropy resends.
        guard side[m.to] == side[indexOf(m.row.host) ?? m.to], Int.random(in: 0..<100, using: &rng) >= dropChance else { return }
        apply(m.to, .merge(m.row))
    }

    func indexOf(_ host: String) -> Int? {
        names.firstIndex(of: host)
    }

    mutating func crash(_ i: Int, keep row: AllocatorRow?) {
        slots[i] = .down(row)
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
        if let row = kept {
            slots[i] = .up(AddressAllocator(host: names[i], pool: pool, restoring: row, reclaimAfter: 1_000, requestTimeout: 500))
            // Its row may be newer than any copy elsewhere: publish it, as the shell does on start.
            for j in slots.indices where j != i { queue.append((j, row)) }
        } else {
            incarnation[i] += 1
            names[i] = "h\(i).\(incarnation[i])"
            slots[i] = .up(AddressAllocator(host: names[i], pool: pool, reclaimAfter: 1_000, requestTimeout: 500))
        }
        // A restarted host learns every row again (state sync).
        for j in upIndices where j != i {
            if case .up(let a) = slots[j] { apply(i, .merge(a.row)) }
        }
        for r in downRows { apply(i, .merge(r)) }
        updateMembers()
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
            for (o, id) in r.leases where !Spans.contains(r.owned, o) {
                violations.append("\(r.host) leases \(o) (\(id)) outside its ranges")
            }
            for (o, id) in r.leases {
                if let h = owner[o] { violations.append("\(o) leased by \(h) and \(r.host) (\(id))") }
                owner[o] = r.host
            }
        }
        ownedSpans.sort { $0.0.low < $1.0.low }
        for (a, b) in zip(ownedSpans, ownedSpans.dropFirst()) where a.0.high > b.0.low {
            violations.append("\(a.0) owned by \(a.1) overlaps \(b.0) owned by \(b.1)")
        }
    }

    /// Heals the cluster, restarts every crashed host with its row, has each orphan reclaimed
    /// by the host the rule names, and delivers until nothing changes.
    mutating func makeWhole() {
        side = side.map { _ in 0 }
        for i in slots.indices { if case .down(_?) = slots[i] { restart(i) } }
        updateMembers()
        quiesce()
        now += 10_000
        updateMembers()
        for dead in orphans {
            let reclaimers = upIndices.filter { j in
                if case .up(let a) = slots[j] { a.reclaimer(of: dead) == names[j] } else { false }
            }
            if reclaimers.count > 1 { violations.append("\(dead) has reclaimers \(reclaimers.map { names[$0] })") }
            for j in reclaimers { apply(j, .reclaim(host: dead, now: now)) }
            quiesce()
            check()
        }
    }

    /// Delivers every row until a full round changes nothing; with `resend`, every live row and
    /// the newest copy of every lost identity's row is sent to everyone first (the replica's
    /// state sync, which also carries other hosts' rows).
    mutating func quiesce(resend: Bool = true) {
        for _ in 0..<50 {
            if resend {
                for i in upIndices { if case .up(let a) = slots[i] { for j in slots.indices where j != i { queue.append((j, a.row)) } } }
                for dead in orphans {
                    let copies = upIndices.compactMap { i -> AllocatorRow? in if case .up(let a) = slots[i] { a.view[dead] } else { nil } }
                    guard let newest = copies.max(by: { $0.version < $1.version }) else { continue }
                    for j in upIndices { queue.append((j, newest)) }
                }
            }
            let before = actingRows
            while !queue.isEmpty { deliverOne(dropChance: 0); check() }
            if actingRows == before { return }
        }
        violations.append("no quiescence after 50 rounds")
    }

    /// Offsets that may be handed out and no live container holds.
    var freeAllocatable: [UInt64] {
        (0..<pool.size).filter { pool.isAllocatable($0) && containers[$0] == nil }
    }

    /// Offsets no acting host owns.
    var unowned: [UInt64] {
        let rows = actingRows
        return (0..<pool.size).filter { o in !rows.contains { Spans.contains($0.owned, o) } }
    }
}
