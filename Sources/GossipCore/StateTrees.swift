/// The spanning trees a replicated-state row travels along: each member hears a new row from
/// `Settings.stateTrees` parents, one per tree, and the whole cluster receives about that many
/// copies per member, instead of the `4 × ceil(log10(N + 1))` that eager pushes and gossip
/// retransmits cost (15 copies per member at 1,000 members).
///
/// Every member knows every other (SWIM's full membership), so the trees need no protocol and
/// no wire field of their own: each member computes its place from its own view. The ring is the
/// live members (alive or suspect) ordered by name; a row's trees are rooted at its owner. In
/// tree `j` the member `r` places after the owner on the ring sits at heap index
/// `h = r × m_j mod N` of a `fanout`-ary heap, and sends to the members at heap indices
/// `fanout × h + 1 … fanout × h + fanout`. The multipliers `m_j` (1, N − 1, then values near
/// N × 0.618, N × 0.382… coprime to N) make the trees' parents of one member different members,
/// far apart on the ring, so that one lost datagram or one dead member cuts a member off in one
/// tree only. A member forwards a row once, when it first applies it, to its children in every
/// tree (a child it got the row from is skipped): flooding over the union of the trees, whose
/// depth is about log_fanout N.
///
/// With loss q per datagram, a member misses a row only when each of its parents missed it or
/// lost the copy: p = (q + (1 − q) p)^trees, so p ≈ q^3 = 1.25 × 10⁻⁴ at q = 5 % and 3 trees.
/// What a tree misses (loss, views that disagree while membership changes, a parent that died
/// unnoticed) is repaired by anti-entropy, as before. An owner this node does not count live
/// roots no tree here; its rows go by the random eager push (`pushEagerly`).
///
/// This is the deterministic cousin of Plumtree (Leitão, Pereira, Rodrigues, "Epidemic
/// Broadcast Trees", SRDS 2007): Plumtree grows one tree from first deliveries and repairs it
/// with lazy announcements; here every tree follows from the membership everyone already holds.
package enum StateTrees {
    /// Ring positions (each in `0..<n`) of the children of position `me` in the trees rooted at
    /// `root`: `trees` trees, each `fanout`-ary; without repeats, and never `me` or `root`.
    package static func children(of me: Int, root: Int, count n: Int, trees: Int, fanout k: Int) -> [Int] {
        children(of: me, root: root, count: n, trees: 0..<max(0, trees), fanout: k)
    }

    /// The same for the trees numbered `trees` (tree `j` for each `j` in the range).
    package static func children(of me: Int, root: Int, count n: Int, trees: Range<Int>, fanout k: Int) -> [Int] {
        var out: [Int] = []
        children(of: me, root: root, count: n, trees: trees, fanout: k, into: &out)
        return out
    }

    /// The same into `out` (emptied first, its capacity kept): a node computes children for
    /// every row it applies first, and this spares it an array each time.
    static func children(of me: Int, root: Int, count n: Int, trees: Range<Int>, fanout k: Int, into out: inout [Int]) {
        out.removeAll(keepingCapacity: true)
        guard n > 1, !trees.isEmpty, trees.lowerBound >= 0, k > 0, (0..<n).contains(me), (0..<n).contains(root) else { return }
        out.reserveCapacity(trees.count * k)
        let r = (me - root + n) % n
        for j in trees {
            let (m, inverse) = multiplier(tree: j, count: n)
            let h = r * m % n
            // h < n ≤ 2^20 and k ≤ 64: no overflow.
            let first = h * k + 1
            let end = min(n, h * k + k + 1)
            if first >= end { continue }
            for c in first..<end {
                let position = (root + c * inverse % n) % n
                if position != me, !out.contains(position) { out.append(position) }
            }
        }
    }

    /// Tree `j`'s multiplier on a ring of `n` and its inverse modulo `n`.
    static func multiplier(tree j: Int, count n: Int) -> (m: Int, inverse: Int) {
        if j == 0 || n <= 2 { return (1, 1) }
        if j == 1 { return (n - 1, n - 1) }
        // Golden-ratio fractions of the ring: neighbours in one tree land far apart in the next.
        let thousandths = [618, 382, 276, 724, 146, 854]
        var m = max(2, n * thousandths[(j - 2) % thousandths.count] / 1000)
        while m < n - 1, gcd(m, n) != 1 { m += 1 }
        if m >= n - 1 { return (1, 1) }
        return (m, inverseModulo(m, n))
    }

    static func gcd(_ a: Int, _ b: Int) -> Int {
        var (a, b) = (a, b)
        while b != 0 { (a, b) = (b, a % b) }
        return a
    }

    /// `a⁻¹ mod n` for `a` coprime to `n` (extended Euclid).
    static func inverseModulo(_ a: Int, _ n: Int) -> Int {
        var (t, newT) = (0, 1)
        var (r, newR) = (n, a % n)
        while newR != 0 {
            let q = r / newR
            (t, newT) = (newT, t - q * newT)
            (r, newR) = (newR, r - q * newR)
        }
        return (t % n + n) % n
    }
}

extension GossipInstance {
    /// Sends a row this node applied for the first time (or wrote) to its children in the
    /// owner's trees (`StateTrees`), except `sender`. An owner outside this node's ring, trees
    /// turned off (`Settings.stateTrees` 0), or an eager budget spent before the last child
    /// leave the row to the random eager push and gossip, as user events travel.
    ///
    /// `ownerPosition`: the owner's position in the member table, when the caller has it (a
    /// hint: the ring checks it by name). `key` is built only when the row falls back on gossip.
    ///
    /// `gossipPastBudget` false (rows an exchange brought): nothing goes by random eager push or
    /// gossip; past the deferral bound, or without trees, the row stays here.
    mutating func pushAlongTrees(
        _ message: Message, owner: String, ownerPosition: Int?, key: @autoclosure () -> BroadcastKey, except sender: Address?,
        gossipPastBudget: Bool = true
    ) {
        guard settings.stateTrees > 0, message.encodedSize <= settings.payloadBudget else {
            if gossipPastBudget { pushEagerly(message, key: key(), except: sender) }
            return
        }
        let ring = currentStateRing()
        let root = owner == name ? ring.me : ring.position(of: owner, tablePosition: ownerPosition)
        guard let me = ring.me, let root else {
            if gossipPastBudget { pushEagerly(message, key: key(), except: sender) }
            return
        }
        // The scratch array is taken out of `state` while the loop below changes it.
        var children = state.childrenScratch
        state.childrenScratch = []
        defer { state.childrenScratch = children }
        StateTrees.children(
            of: me, root: root, count: ring.count, trees: 0..<settings.stateTrees, fanout: settings.stateTreeFanout,
            into: &children)
        // One array for every child's datagram: each holds the same message.
        let datagram = [message]
        var sent = 0
        var cut = false
        for c in children {
            guard let i = table.position(of: ring.members[c]), table.status(at: i) <= .suspect else { continue }
            let address = table.identity(at: i).address
            guard address != sender else { continue }
            if sent >= eagerBudget {
                // A burst past the budget waits for the next gossip round on the same tree
                // edges, several rows to a datagram (`flushDeferredTreePushes`): gossip from
                // random members would leave the subtrees above them without the row.
                if state.deferredCount < Self.maxDeferredTreePushes {
                    deferTreePush(message, to: address)
                    continue
                }
                cut = true
                break
            }
            sendAlone(datagram, to: address)
            sent += 1
        }
        counters.eagerPushes += sent
        eagerBudget -= sent
        // Past the deferral bound, the subtrees below the children not reached get the row by gossip.
        if cut, gossipPastBudget { dissemination.enqueue(message, key: key(), pushed: sent) }
    }

    /// The ring, built again first if the membership changed since it was (O(N log N)).
    mutating func currentStateRing() -> StateRing {
        if let ring = stateRing { return ring }
        let ring = StateRing(table, selfName: name)
        stateRing = ring
        return ring
    }

    /// A datagram of state rows or announcements to a member of a tree, not topped up with
    /// queued gossip: tree edges go to the same few members, and queued updates (suspicions,
    /// deaths) must spend their retransmits on random ones to spread.
    mutating func sendAlone(_ messages: [Message], to: Address) {
        counters.messagesOut += messages.count
        outbox.append(.datagram(to: to, messages: messages))
    }

    /// Tree pushes held for the next gossip round, at most (a burst of this many rows times
    /// children is held, the rest gossiped).
    static let maxDeferredTreePushes = 8_192

    mutating func deferTreePush(_ message: Message, to child: Address) {
        // A child's queue is never held empty (`flushDeferredTreePushes` removes it), so one
        // that holds one message after this append is new: one lookup of the child, not two.
        func append(_ m: Message, to queue: inout [Message]) -> Bool {
            queue.append(m)
            return queue.count == 1
        }
        if append(message, to: &state.deferred[child, default: []]) { state.deferredOrder.append(child) }
        state.deferredCount += 1
    }

    /// At the start of a gossip round (the eager budget refilled): the held tree pushes, each
    /// child's in as few datagrams as its rows fit, one budget unit per datagram; what the
    /// budget does not cover waits for the next round.
    mutating func flushDeferredTreePushes() {
        guard state.deferredCount > 0 else { return }
        var left: [Address] = []
        for child in state.deferredOrder {
            guard var queue = state.deferred[child] else { continue }
            var batch: [Message] = []
            var used = 0
            var taken = 0
            while taken < queue.count, eagerBudget > 0 {
                let m = queue[taken]
                let size = m.encodedSize
                if !batch.isEmpty, used + size > settings.payloadBudget {
                    sendAlone(batch, to: child)
                    counters.eagerPushes += 1
                    eagerBudget -= 1
                    batch = []
                    used = 0
                    continue
                }
                batch.append(m)
                used += size
                taken += 1
            }
            if !batch.isEmpty {
                sendAlone(batch, to: child)
                counters.eagerPushes += 1
                eagerBudget -= 1
            }
            state.deferredCount -= taken
            queue.removeFirst(taken)
            if queue.isEmpty {
                state.deferred[child] = nil
            } else {
                state.deferred[child] = queue
                left.append(child)
            }
        }
        state.deferredOrder = left
    }

}

/// The ring the state trees are laid on: the live members (alive or suspect), this node
/// included, ordered by name; built from the member table when the membership changes
/// (`GossipInstance.stateRing`), and read on every row a node applies first.
///
/// Each member is held by its identity box, so that a child's table entry is found by the hash
/// kept in the box; this node's place is kept; and each table position's place on the ring, so
/// that the owner of a row, whose table position the receiver looked up already, is placed
/// without a search of names. Table positions move (inserts, reaps, shuffles) without the ring
/// being built again: a place found by position is taken only when the name there is the
/// owner's, and the search by name decides otherwise.
struct StateRing: Sendable {
    /// By name, in byte order.
    let members: [MemberIdentity]
    /// This node's place; nil when it is not live (leaving).
    let me: Int?
    /// The place of the member at each table position when the ring was built, −1 if not on it.
    let placeByTablePosition: [Int32]

    var count: Int { members.count }

    init(_ table: MemberTable, selfName: String) {
        var live: [(identity: MemberIdentity, tablePosition: Int)] = []
        live.reserveCapacity(table.liveCount)
        for i in 0..<table.count where table.status(at: i) <= .suspect { live.append((table.identity(at: i), i)) }
        live.sort { $0.identity.name < $1.identity.name }
        var places = [Int32](repeating: -1, count: table.count)
        for (k, m) in live.enumerated() { places[m.tablePosition] = Int32(k) }
        members = live.map(\.identity)
        placeByTablePosition = places
        me = Self.search(selfName, count: live.count) { live[$0].identity.name }
    }

    /// The place of the member named `name` on the ring, or nil; `tablePosition`, where the
    /// caller found it in the member table, is tried first.
    func position(of name: String, tablePosition: Int?) -> Int? {
        if let p = tablePosition, p < placeByTablePosition.count {
            let k = Int(placeByTablePosition[p])
            if k >= 0, members[k].name == name { return k }
        }
        return Self.search(name, count: members.count) { members[$0].name }
    }

    /// Binary search of `count` names in byte order, read by `name(at:)`.
    static func search(_ name: String, count: Int, _ nameAt: (Int) -> String) -> Int? {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if nameAt(mid) < name { lo = mid + 1 } else { hi = mid }
        }
        return lo < count && nameAt(lo) == name ? lo : nil
    }
}
