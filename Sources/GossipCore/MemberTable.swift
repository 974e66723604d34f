/// Every known member, this node included, and the probe order (SWIM's randomized round robin),
/// with the counts every formula needs. Changes to a member go through `update(_:_:)`, which
/// keeps the counts right, so no caller adjusts them by hand.
///
/// Stored as parallel arrays by position (the probe order), not as an array of `Member`: a node
/// holds one entry per member, so a simulated cluster of N holds N^2, and an entry costs what it
/// carries: the shared identity (8 bytes), the status (1), when it changed (8), whether the
/// member was heard directly (1), and its place in the name index (4 bytes in a table at most
/// three quarters full). A change writes only the arrays whose value changed, so nodes that
/// share arrays (`FormedMembership`) copy only those when one of them suspects a member.
struct MemberTable: Sendable {
    /// By position: name, address, incarnation and tags, in the box shared with the messages
    /// the member was learned from (`MemberIdentity`).
    private var identities: [MemberIdentity] = []
    private var statuses: [MemberStatus] = []
    /// When this node last saw each member's status change.
    private var changedAt: [Instant] = []
    /// Whether the member has been heard directly at its current address (it answered one of
    /// this node's probes, or probed this node itself). Members vouched for only by others are
    /// probed in a lane of their own, so however many of them arrive, the members already
    /// confirmed are probed as often as before.
    private var confirmed: [Bool] = []
    /// The name index: open addressing with linear probing over the names' hashes (kept in the
    /// identity, `MemberIdentity.nameHash`), each slot a position or -1. A power of two long,
    /// at most three quarters used. Replaces a `[String: Int]` (a String key and an Int value
    /// per bucket, and a hash of the name per lookup).
    private var slots: [Int32] = []
    /// Members alive or suspect, this node included: the N of every formula.
    private(set) var liveCount = 0
    /// Live members not yet confirmed.
    private(set) var unconfirmedLive = 0
    /// The round-robin positions of the confirmed round and of the unconfirmed lane. The round
    /// takes positions from `roundStart` on, modulo the count, until it has taken `count`;
    /// `roundStart` is 0 except in a formed table's first round.
    private var roundCursor = 0
    private var roundStart = 0
    private var unconfirmedCursor = 0

    init() {}

    /// A table of `members` in this order, every one confirmed (see `FormedMembership`); the
    /// names must be distinct.
    init(confirmedMembers members: [Member]) {
        identities = members.map(\.identity)
        statuses = members.map(\.status)
        changedAt = members.map(\.statusChangedAt)
        confirmed = Array(repeating: true, count: members.count)
        liveCount = statuses.reduce(0) { $0 + ($1 <= .suspect ? 1 : 0) }
        rehash(capacity: Self.capacity(for: members.count))
    }

    /// Starts the first probe round at `position` (a formed table's, see `FormedMembership`).
    mutating func startFirstRound(at position: Int) {
        roundStart = position
        roundCursor = position
    }

    var count: Int { identities.count }

    subscript(i: Int) -> Member { Member(identities[i], status: statuses[i], statusChangedAt: changedAt[i]) }

    /// Every member, in probe order (a new array: O(N)).
    var members: [Member] { identities.indices.map { self[$0] } }

    func status(at i: Int) -> MemberStatus { statuses[i] }

    func identity(at i: Int) -> MemberIdentity { identities[i] }

    func position(of name: String) -> Int? {
        position(of: name, hash: MemberIdentity.hash(name: name), identity: nil)
    }

    /// The position of the member `identity` names; cheaper than by name (its hash is kept in
    /// the box, and a node that holds the same box matches without comparing names).
    func position(of identity: MemberIdentity) -> Int? {
        position(of: identity.name, hash: identity.nameHash, identity: identity)
    }

    private func position(of name: String, hash h: Int, identity: MemberIdentity?) -> Int? {
        slot(of: name, hash: h, identity: identity).map { Int(slots[$0]) }
    }

    /// The index slot that holds the member named `name` (whose hash is `h`), or nil.
    private func slot(of name: String, hash h: Int, identity: MemberIdentity?) -> Int? {
        if slots.isEmpty { return nil }
        let mask = slots.count - 1
        var s = h & mask
        while true {
            let p = slots[s]
            if p < 0 { return nil }
            let held = identities[Int(p)]
            if held === identity || (held.nameHash == h && held.name == name) { return s }
            s = (s + 1) & mask
        }
    }

    /// Bit k is set when message k (of the first 64) is an `alive` carrying the very identity
    /// box this table holds for a member other than `selfName`: news already held, which
    /// `alive()` would drop without a change (same box: same address, an incarnation not
    /// above the one held). That stays true whatever the datagram's other messages do first:
    /// they can only replace a box by one of a higher incarnation, or change a status.
    ///
    /// In a join storm these are nearly all a node receives, and each lookup is two cache
    /// misses (the index slot, then the identity) into a table that does not fit the cache.
    /// Done here, in one tight loop over the datagram, the misses of different messages
    /// overlap instead of following one another through the admission checks and `alive()`.
    func heldAlives(in messages: [Message], selfName: String) -> UInt64 {
        if slots.isEmpty { return 0 }
        let mask = slots.count - 1
        var held: UInt64 = 0
        for k in 0..<Swift.min(messages.count, 64) {
            guard case .alive(let a) = messages[k] else { continue }
            let identity = a.identity
            var s = identity.nameHash & mask
            while true {
                let p = slots[s]
                if p < 0 { break }
                let h = identities[Int(p)]
                if h === identity {
                    if identity.name != selfName { held |= 1 << UInt64(k) }
                    break
                }
                // Another box under this name: not the same news, `alive()` decides.
                if h.nameHash == identity.nameHash, h.name == identity.name { break }
                s = (s + 1) & mask
            }
        }
        return held
    }

    /// The live member whose name follows `name` in byte order, wrapping around; nil when no
    /// other member is live. O(N): callers cache it until the membership changes.
    func successor(of name: String) -> String? {
        var next: String?
        var lowest: String?
        for i in identities.indices where statuses[i] <= .suspect {
            let n = identities[i].name
            if n == name { continue }
            if n > name, next.map({ n < $0 }) ?? true { next = n }
            if lowest.map({ n < $0 }) ?? true { lowest = n }
        }
        return next ?? lowest
    }

    func member(named name: String) -> Member? { position(of: name).map { self[$0] } }

    func isConfirmed(_ i: Int) -> Bool { confirmed[i] }

    /// Every member's state, as push/pull sends it: members sections of at most
    /// `PushPull.maxSectionSize` bytes each, so that any frame holds one.
    var sections: [PushPullSection] {
        var sections: [PushPullSection] = []
        var chunk: [MemberState] = []
        var size = 0
        // The count varint of a section takes three bytes at most below 2^21 members.
        let limit = PushPull.maxSectionSize - 3
        for i in identities.indices {
            let state = MemberState(identities[i], status: statuses[i])
            var c = SizeCounter()
            c.memberState(state)
            if !chunk.isEmpty, size + c.size > limit {
                sections.append(.members(chunk))
                chunk = []
                size = 0
            }
            chunk.append(state)
            size += c.size
        }
        sections.append(.members(chunk))
        return sections
    }

    /// Bytes of the arrays this table holds, by their capacity (the name index included; the
    /// shared identity boxes not): what a node pays per member it knows.
    var footprint: Int {
        identities.capacity * MemoryLayout<MemberIdentity>.stride + statuses.capacity + changedAt.capacity * 8
            + confirmed.capacity + slots.capacity * 4
    }

    // MARK: changes

    /// Adds a member at a random place in the probe order, as SWIM's round robin requires, so a
    /// newcomer is probed within one round on average whatever its arrival time. Returns its position.
    @discardableResult
    mutating func insert(_ m: Member, confirmed c: Bool = false, rng: inout SeededGenerator) -> Int {
        if (identities.count + 1) * 4 > slots.count * 3 { rehash(capacity: Swift.max(16, slots.count * 2)) }
        identities.appendGrowingByAQuarter(m.identity)
        statuses.appendGrowingByAQuarter(m.status)
        changedAt.appendGrowingByAQuarter(m.statusChangedAt)
        confirmed.appendGrowingByAQuarter(c)
        let last = identities.count - 1
        var s = m.identity.nameHash & (slots.count - 1)
        while slots[s] >= 0 { s = (s + 1) & (slots.count - 1) }
        slots[s] = Int32(last)
        if m.status <= .suspect { countLive(last, by: 1) }
        guard last > 0 else { return last }
        let j = rng.index(below: identities.count)
        swapMembers(last, j)
        return j
    }

    /// Forgets the member at `i` and returns it.
    mutating func remove(at i: Int) -> Member {
        let last = identities.count - 1
        swapMembers(i, last)
        if statuses[last] <= .suspect { countLive(last, by: -1) }
        let m = self[last]
        removeSlot(slot(of: m.name, hash: m.identity.nameHash, identity: m.identity)!)
        identities.removeLast()
        statuses.removeLast()
        changedAt.removeLast()
        confirmed.removeLast()
        // Give back most of the index of a table that shrank a lot (a partition's members reaped).
        if slots.count > 16, identities.count * 8 < slots.count { rehash(capacity: Self.capacity(for: identities.count)) }
        return m
    }

    /// Changes the member at `i`. A member that becomes live or stops being live moves the
    /// counts; a member at a new address must be heard there before it counts as confirmed.
    mutating func update(_ i: Int, _ change: (inout Member) -> Void) {
        var m = self[i]
        let wasLive = m.status <= .suspect
        let oldAddress = m.address
        change(&m)
        assert(m.name == identities[i].name, "the name index is keyed by name: a member keeps its name")
        if wasLive { countLive(i, by: -1) }
        if m.address != oldAddress, confirmed[i] { confirmed[i] = false }
        // Only what changed is written: an array shared with other tables is copied only then.
        if m.identity !== identities[i] { identities[i] = m.identity }
        if m.status != statuses[i] { statuses[i] = m.status }
        if m.statusChangedAt != changedAt[i] { changedAt[i] = m.statusChangedAt }
        if m.status <= .suspect { countLive(i, by: 1) }
    }

    /// The member at `i` was heard directly.
    mutating func confirm(_ i: Int) {
        guard !confirmed[i] else { return }
        confirmed[i] = true
        if statuses[i] <= .suspect { unconfirmedLive -= 1 }
    }

    private mutating func countLive(_ i: Int, by delta: Int) {
        liveCount += delta
        if !confirmed[i] { unconfirmedLive += delta }
    }

    private mutating func swapMembers(_ a: Int, _ b: Int) {
        guard a != b else { return }
        let sa = slot(of: identities[a].name, hash: identities[a].nameHash, identity: identities[a])!
        let sb = slot(of: identities[b].name, hash: identities[b].nameHash, identity: identities[b])!
        slots[sa] = Int32(b)
        slots[sb] = Int32(a)
        identities.swapAt(a, b)
        statuses.swapAt(a, b)
        changedAt.swapAt(a, b)
        confirmed.swapAt(a, b)
    }

    // MARK: the name index

    /// The index length for `n` members: a power of two, at least 16, at most three quarters used.
    private static func capacity(for n: Int) -> Int {
        var c = 16
        while n * 4 > c * 3 { c *= 2 }
        return c
    }

    private mutating func rehash(capacity: Int) {
        slots = Array(repeating: -1, count: capacity)
        let mask = capacity - 1
        for p in identities.indices {
            var s = identities[p].nameHash & mask
            while slots[s] >= 0 { s = (s + 1) & mask }
            slots[s] = Int32(p)
        }
    }

    /// Empties slot `s`, moving back the entries after it that would no longer be found
    /// (deletion without tombstones in linear probing).
    private mutating func removeSlot(_ s: Int) {
        let mask = slots.count - 1
        var hole = s
        var j = s
        while true {
            j = (j + 1) & mask
            let p = slots[j]
            if p < 0 { break }
            let home = identities[Int(p)].nameHash & mask
            // The entry at j may fill the hole when the hole lies between its home and j.
            if (j - home) & mask >= (j - hole) & mask {
                slots[hole] = p
                hole = j
            }
        }
        slots[hole] = -1
    }

    // MARK: rounds

    /// Whether the confirmed round has anyone to probe besides this node.
    var hasConfirmedPeers: Bool { liveCount - unconfirmedLive > 1 }

    /// Starts the round over when it has passed every member; true when it did (the caller ends
    /// the round: reaps, then shuffles).
    mutating func wrapRoundIfDone() -> Bool {
        guard roundCursor - roundStart >= identities.count else { return false }
        roundCursor = 0
        roundStart = 0
        return true
    }

    /// The round's next position.
    mutating func takeRoundPosition() -> Int {
        defer { roundCursor += 1 }
        return roundCursor % identities.count
    }

    /// Whether the member at `i` is probed in the confirmed round.
    func isRoundTarget(_ i: Int, selfName: String) -> Bool {
        confirmed[i] && statuses[i] <= .suspect && identities[i].name != selfName
    }

    /// The next live member not yet confirmed, in its own round robin, or nil.
    mutating func nextUnconfirmed() -> Int? {
        guard unconfirmedLive > 0 else { return nil }
        for _ in 0..<identities.count {
            if unconfirmedCursor >= identities.count { unconfirmedCursor = 0 }
            let i = unconfirmedCursor
            unconfirmedCursor += 1
            if confirmed[i] || statuses[i] > .suspect { continue }
            return i
        }
        return nil
    }

    /// Forgets members failed or departed long enough ago (never `keeping`), and returns them
    /// in the order they were removed.
    mutating func reap(now: Instant, failedAfter: Duration, leftAfter: Duration, keeping selfName: String) -> [Member] {
        var reaped: [Member] = []
        var i = 0
        while i < identities.count {
            let limit: Duration? =
                switch statuses[i] {
                case .failed: failedAfter
                case .left: leftAfter
                default: nil
                }
            if let limit, identities[i].name != selfName, now - changedAt[i] >= limit {
                reaped.append(remove(at: i))
            } else {
                i += 1
            }
        }
        return reaped
    }

    /// Reshuffles the probe order (SWIM section 4.3).
    mutating func shuffle(rng: inout SeededGenerator) {
        var j = identities.count - 1
        while j > 0 {
            swapMembers(j, rng.index(below: j + 1))
            j -= 1
        }
    }

    // MARK: picking

    /// Up to `k` distinct random members other than `selfName` that pass `accept`, found by
    /// bounded random sampling (memberlist's kRandomNodes), so the cost does not grow with N.
    func randomMembers(_ k: Int, excluding selfName: String, rng: inout SeededGenerator, accept: (Member) -> Bool) -> [Int] {
        sample(k, excluding: selfName, rng: &rng) { accept(self[$0]) }
    }

    /// `randomMembers`, with `accept` given the member's position.
    private func sample(_ k: Int, excluding selfName: String, rng: inout SeededGenerator, accept: (Int) -> Bool) -> [Int] {
        var picked: [Int] = []
        guard k > 0, identities.count > 1 else { return picked }
        var tries = 0
        while picked.count < k, tries < 3 * identities.count, tries < 3 * k + 64 {
            tries += 1
            let i = rng.index(below: identities.count)
            if identities[i].name == selfName || picked.contains(i) || !accept(i) { continue }
            picked.append(i)
        }
        return picked
    }

    /// Up to `k` live helpers for an indirect probe of `target`: members heard directly first,
    /// then, only if too few of those are live, any live member. A helper that does not exist
    /// (invented by a forged push/pull) never sends its nack, and every missing nack counts
    /// against this node's own health (Lifeguard), so invented members must not be chosen while
    /// real ones can be. The fallback keeps k helpers for a node that has heard directly from few
    /// members yet (a slow node early on): taking fewer would take away Lifeguard's evidence of
    /// its own slowness (`ScenarioTests.lifeguardReducesFalsePositivesAroundASlowNode`).
    func randomHelpers(_ k: Int, excluding selfName: String, target: String, rng: inout SeededGenerator) -> [Int] {
        let live = { (i: Int) in self.statuses[i] == .alive && self.identities[i].name != target }
        var picked = sample(k, excluding: selfName, rng: &rng) { live($0) && self.confirmed[$0] }
        guard picked.count < k, unconfirmedLive > 0 else { return picked }
        // Sampling misses confirmed members that are few among many invented ones: look at
        // every member then (once per indirect probe, O(N)), and draw the rest among them.
        var candidates = identities.indices.filter {
            live($0) && confirmed[$0] && identities[$0].name != selfName && !picked.contains($0)
        }
        while picked.count < k, !candidates.isEmpty {
            candidates.swapAt(rng.index(below: candidates.count), candidates.count - 1)
            picked.append(candidates.removeLast())
        }
        let chosen = picked
        picked += sample(k - picked.count, excluding: selfName, rng: &rng) { live($0) && !chosen.contains($0) }
        return picked
    }

    /// The member failed or departed longest ago, other than `selfName`, or nil.
    func longestGone(excluding selfName: String) -> Int? {
        guard identities.count > liveCount else { return nil }
        var oldest: Int?
        for i in identities.indices where statuses[i] > .suspect && identities[i].name != selfName {
            if oldest.map({ changedAt[i] < changedAt[$0] }) ?? true { oldest = i }
        }
        return oldest
    }

    /// A uniformly random failed member (a draw only when there is one), for reconnects:
    /// with probability failed/live, or always.
    func randomFailed(always: Bool, rng: inout SeededGenerator) -> Int? {
        var failed = 0
        for s in statuses where s == .failed { failed += 1 }
        guard failed > 0 else { return nil }
        let p = Double(failed) / Double(max(liveCount, 1))
        if !always, rng.unit() >= p { return nil }
        var pick = rng.index(below: failed)
        for (i, s) in statuses.enumerated() where s == .failed {
            if pick == 0 { return i }
            pick -= 1
        }
        return nil
    }
}

extension Array {
    /// Appends `x`, growing a full array by a quarter (16 places at least) instead of doubling
    /// it. For the arrays a node holds one element of per member, or per update queued during
    /// a join storm: doubled, 10,000 of them sit in 16,384 places, and a simulation holds N of
    /// them; grown by a quarter, the slack is an eighth on average, for about twice the copying.
    mutating func appendGrowingByAQuarter(_ x: Element) {
        if count == capacity { reserveCapacity(count + Swift.max(16, count / 4)) }
        append(x)
    }
}
