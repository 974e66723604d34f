/// Every known member, this node included, and the probe order (SWIM's randomized round robin),
/// with the counts every formula needs. Changes to a member go through `update(_:_:)`, which
/// keeps the counts right, so no caller adjusts them by hand.
struct MemberTable: Sendable {
    private(set) var members: [Member] = []
    private var positionByName: [String: Int] = [:]
    /// Parallel to `members`: whether the member has been heard directly at its current
    /// address (it answered one of this node's probes, or probed this node itself). Members
    /// vouched for only by others are probed in a lane of their own, so however many of them
    /// arrive, the members already confirmed are probed as often as before.
    private var confirmed: [Bool] = []
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

    /// A table over arrays another table may share (see `FormedMembership`); every member confirmed.
    init(sharing members: [Member], positionByName: [String: Int], confirmed: [Bool], roundStart: Int) {
        self.members = members
        self.positionByName = positionByName
        self.confirmed = confirmed
        self.liveCount = members.reduce(0) { $0 + ($1.status <= .suspect ? 1 : 0) }
        self.roundStart = roundStart
        self.roundCursor = roundStart
    }

    var count: Int { members.count }

    subscript(i: Int) -> Member { members[i] }

    func position(of name: String) -> Int? { positionByName[name] }

    /// The live member whose name follows `name` in byte order, wrapping around; nil when no
    /// other member is live. O(N): callers cache it until the membership changes.
    func successor(of name: String) -> String? {
        var next: String?
        var lowest: String?
        for m in members where m.status <= .suspect && m.name != name {
            if m.name > name, next.map({ m.name < $0 }) ?? true { next = m.name }
            if lowest.map({ m.name < $0 }) ?? true { lowest = m.name }
        }
        return next ?? lowest
    }

    func member(named name: String) -> Member? { positionByName[name].map { members[$0] } }

    func isConfirmed(_ i: Int) -> Bool { confirmed[i] }

    /// Every member's state, as push/pull sends it: members sections of at most
    /// `PushPull.maxSectionSize` bytes each, so that any frame holds one.
    var sections: [PushPullSection] {
        var sections: [PushPullSection] = []
        var chunk: [MemberState] = []
        var size = 0
        // The count varint of a section takes three bytes at most below 2^21 members.
        let limit = PushPull.maxSectionSize - 3
        for m in members {
            let state = m.state
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

    // MARK: changes

    /// Adds a member at a random place in the probe order, as SWIM's round robin requires, so a
    /// newcomer is probed within one round on average whatever its arrival time. Returns its position.
    @discardableResult
    mutating func insert(_ m: Member, confirmed c: Bool = false, rng: inout SeededGenerator) -> Int {
        members.append(m)
        confirmed.append(c)
        let last = members.count - 1
        positionByName[m.name] = last
        if m.status <= .suspect { countLive(last, by: 1) }
        guard last > 0 else { return last }
        let j = rng.index(below: members.count)
        swapMembers(last, j)
        return j
    }

    /// Forgets the member at `i` and returns it.
    mutating func remove(at i: Int) -> Member {
        swapMembers(i, members.count - 1)
        if members[members.count - 1].status <= .suspect { countLive(members.count - 1, by: -1) }
        let m = members.removeLast()
        confirmed.removeLast()
        positionByName[m.name] = nil
        return m
    }

    /// Changes the member at `i`. A member that becomes live or stops being live moves the
    /// counts; a member at a new address must be heard there before it counts as confirmed.
    mutating func update(_ i: Int, _ change: (inout Member) -> Void) {
        let wasLive = members[i].status <= .suspect
        let oldAddress = members[i].address
        let oldName = members[i].name
        change(&members[i])
        assert(members[i].name == oldName, "positionByName is keyed by name: a member keeps its name")
        if wasLive { countLive(i, by: -1) }
        if members[i].address != oldAddress { confirmed[i] = false }
        if members[i].status <= .suspect { countLive(i, by: 1) }
    }

    /// The member at `i` was heard directly.
    mutating func confirm(_ i: Int) {
        guard !confirmed[i] else { return }
        confirmed[i] = true
        if members[i].status <= .suspect { unconfirmedLive -= 1 }
    }

    private mutating func countLive(_ i: Int, by delta: Int) {
        liveCount += delta
        if !confirmed[i] { unconfirmedLive += delta }
    }

    private mutating func swapMembers(_ a: Int, _ b: Int) {
        guard a != b else { return }
        members.swapAt(a, b)
        confirmed.swapAt(a, b)
        positionByName[members[a].name] = a
        positionByName[members[b].name] = b
    }

    // MARK: rounds

    /// Whether the confirmed round has anyone to probe besides this node.
    var hasConfirmedPeers: Bool { liveCount - unconfirmedLive > 1 }

    /// Starts the round over when it has passed every member; true when it did (the caller ends
    /// the round: reaps, then shuffles).
    mutating func wrapRoundIfDone() -> Bool {
        guard roundCursor - roundStart >= members.count else { return false }
        roundCursor = 0
        roundStart = 0
        return true
    }

    /// The round's next position.
    mutating func takeRoundPosition() -> Int {
        defer { roundCursor += 1 }
        return roundCursor % members.count
    }

    /// Whether the member at `i` is probed in the confirmed round.
    func isRoundTarget(_ i: Int, selfName: String) -> Bool {
        confirmed[i] && members[i].status <= .suspect && members[i].name != selfName
    }

    /// The next live member not yet confirmed, in its own round robin, or nil.
    mutating func nextUnconfirmed() -> Int? {
        guard unconfirmedLive > 0 else { return nil }
        for _ in 0..<members.count {
            if unconfirmedCursor >= members.count { unconfirmedCursor = 0 }
            let i = unconfirmedCursor
            unconfirmedCursor += 1
            if confirmed[i] || members[i].status > .suspect { continue }
            return i
        }
        return nil
    }

    /// Forgets members failed or departed long enough ago (never `keeping`), and returns them
    /// in the order they were removed.
    mutating func reap(now: Instant, failedAfter: Duration, leftAfter: Duration, keeping selfName: String) -> [Member] {
        var reaped: [Member] = []
        var i = 0
        while i < members.count {
            let m = members[i]
            let limit: Duration? =
                switch m.status {
                case .failed: failedAfter
                case .left: leftAfter
                default: nil
                }
            if let limit, m.name != selfName, now - m.statusChangedAt >= limit {
                reaped.append(remove(at: i))
            } else {
                i += 1
            }
        }
        return reaped
    }

    /// Reshuffles the probe order (SWIM section 4.3).
    mutating func shuffle(rng: inout SeededGenerator) {
        var j = members.count - 1
        while j > 0 {
            swapMembers(j, rng.index(below: j + 1))
            j -= 1
        }
    }

    // MARK: picking

    /// Up to `k` distinct random members other than `selfName` that pass `accept`, found by
    /// bounded random sampling (memberlist's kRandomNodes), so the cost does not grow with N.
    func randomMembers(_ k: Int, excluding selfName: String, rng: inout SeededGenerator, accept: (Member) -> Bool) -> [Int] {
        sample(k, excluding: selfName, rng: &rng) { accept(members[$0]) }
    }

    /// `randomMembers`, with `accept` given the member's position.
    private func sample(_ k: Int, excluding selfName: String, rng: inout SeededGenerator, accept: (Int) -> Bool) -> [Int] {
        var picked: [Int] = []
        guard k > 0, members.count > 1 else { return picked }
        var tries = 0
        while picked.count < k, tries < 3 * members.count, tries < 3 * k + 64 {
            tries += 1
            let i = rng.index(below: members.count)
            let m = members[i]
            if m.name == selfName || picked.contains(i) || !accept(i) { continue }
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
        let live = { (i: Int) in self.members[i].status == .alive && self.members[i].name != target }
        var picked = sample(k, excluding: selfName, rng: &rng) { live($0) && self.confirmed[$0] }
        guard picked.count < k, unconfirmedLive > 0 else { return picked }
        // Sampling misses confirmed members that are few among many invented ones: look at
        // every member then (once per indirect probe, O(N)), and draw the rest among them.
        var candidates = members.indices.filter {
            live($0) && confirmed[$0] && members[$0].name != selfName && !picked.contains($0)
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
        guard members.count > liveCount else { return nil }
        var oldest: Int?
        for (i, m) in members.enumerated() where m.status > .suspect && m.name != selfName {
            if oldest.map({ m.statusChangedAt < members[$0].statusChangedAt }) ?? true { oldest = i }
        }
        return oldest
    }

    /// A uniformly random failed member (a draw only when there is one), for reconnects:
    /// with probability failed/live, or always.
    func randomFailed(always: Bool, rng: inout SeededGenerator) -> Int? {
        var failed = 0
        for m in members where m.status == .failed { failed += 1 }
        guard failed > 0 else { return nil }
        let p = Double(failed) / Double(max(liveCount, 1))
        if !always, rng.unit() >= p { return nil }
        var pick = rng.index(below: failed)
        for (i, m) in members.enumerated() where m.status == .failed {
            if pick == 0 { return i }
            pick -= 1
        }
        return nil
    }
}
