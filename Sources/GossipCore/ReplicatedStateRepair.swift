/// Repair of what the state trees missed, in a gossip round instead of a push/pull interval.
///
/// An owner's versions are consecutive (`ReplicatedState.nextVersion`), so a replica that
/// applies version v of owner X while holding X's newest below v − 1 knows that writes of X
/// may be missing (a gap: NAK). The last write of an owner has no later version to reveal its
/// loss, so every member that applies a row announces the owner's newest version lazily to its
/// children in `Settings.stateLazyTrees` further trees (Plumtree's IHAVE, message type 14,
/// batched per owner for a gossip interval). A replica that hears of a version above its
/// newest has a gap too.
///
/// A gap waits `Settings.stateRepairWait` for copies still on their way (the trees deliver an
/// owner's rows along different paths, and a burst falls back on gossip), then the replica
/// sends a repair request: a push/pull of a state digest listing only the owners with a gap
/// (Docs/WIRE-FORMAT.md, "Repair requests"), to the member that revealed the gap (it holds the
/// version). The reply brings those owners' rows that differ, by the rule every exchange
/// follows; the follow-up gives the responder what it lacked of them. A gap whose newest known
/// version is still not held after the exchange is asked of the owner itself, up to
/// `maxRepairAttempts` times; past that it is left to push/pull.
///
/// Bounds: at most `repairPeersPerRound` requests per wait, each to a different member, so a
/// replica sends at most a few small exchanges per second; a gap is one entry per owner.
/// False gaps (versions overwritten before they reached this replica, a late joiner's view of
/// an owner's history) cost one exchange whose reply is empty when the owner's hash agrees.
extension GossipInstance {
    static let repairPeersPerRound = 2
    static let maxRepairAttempts = 3

    /// Notes what a newly applied row of another owner says of the versions held before it
    /// (`newestBefore`): a gap opened, extended or (partly) filled.
    mutating func noteVersion(_ v: UInt64, of owner: String, newestBefore: UInt64, from sender: Address) {
        if var g = state.gaps[owner] {
            if v > g.high {
                g.missing += Int(clamping: v - g.high - 1)
                g.high = v
            } else if v > g.low {
                g.missing -= 1
            }
            if g.missing <= 0, !g.asked {
                state.gaps[owner] = nil
            } else {
                state.gaps[owner] = g
            }
            return
        }
        guard v > newestBefore &+ 1 else { return }
        openGap(owner, low: newestBefore, high: v, missing: Int(clamping: v - newestBefore - 1), peer: sender)
    }

    /// An announcement (type 14): `n.version` of `n.owner` exists, and the sender holds it.
    mutating func announced(_ n: StateNewest, from sender: Address) {
        counters.stateAnnouncementsIn += 1
        guard n.owner != name, let i = table.position(of: n.owner), table[i].status != .left else { return }
        let newest = state.newest(of: n.owner)
        guard n.version > newest else { return }
        if var g = state.gaps[n.owner] {
            if n.version > g.high {
                g.missing += Int(clamping: n.version - g.high)
                g.high = n.version
                g.peer = sender
                state.gaps[n.owner] = g
            }
            return
        }
        openGap(n.owner, low: newest, high: n.version, missing: Int(clamping: n.version - newest), peer: sender)
    }

    mutating func openGap(_ owner: String, low: UInt64, high: UInt64, missing: Int, peer: Address) {
        guard state.gaps.count < settings.maxMembers else { return }
        counters.stateGapsSeen += 1
        state.gaps[owner] = ReplicatedState.Gap(
            low: low, high: high, missing: missing, peer: peer, since: now, hash: state.digestEntry(of: owner).hash)
        if !state.repairArmed {
            state.repairArmed = true
            armReplacing(.state(.repair), at: now + settings.stateRepairWait)
        }
    }

    /// The repair timer: requests for the gaps that waited long enough, at most
    /// `repairPeersPerRound` peers; the timer is armed again while gaps remain.
    mutating func repairGaps() {
        state.repairArmed = false
        guard !departure.isLeaving else { return }
        let wait = settings.stateRepairWait
        var byPeer: [Address: [String]] = [:]
        var peers: [Address] = []
        for owner in state.gaps.keys.sorted() {
            guard let g = state.gaps[owner] else { continue }
            guard let i = table.position(of: owner), table[i].status != .left else {
                state.gaps[owner] = nil
                continue
            }
            // An asked gap ends when an exchange shows both sides equal (`settleGaps`).
            if !g.asked, g.missing <= 0, state.newest(of: owner) >= g.high {
                state.gaps[owner] = nil
                continue
            }
            if now - g.since < (g.asked ? wait * 4 : wait) { continue }
            if g.attempts >= Self.maxRepairAttempts {
                state.gaps[owner] = nil
                counters.stateGapsAbandoned += 1
                continue
            }
            // The first request goes to who revealed the gap; a retry to the owner, which holds
            // every version of its own.
            var peer = g.peer
            if g.asked, table[i].status == .alive { peer = table[i].address }
            guard peer != address, address.canReach(peer) else {
                state.gaps[owner] = nil
                continue
            }
            if byPeer[peer] == nil {
                if peers.count >= Self.repairPeersPerRound { continue }
                peers.append(peer)
            }
            byPeer[peer, default: []].append(owner)
        }
        for peer in peers {
            let owners = byPeer[peer] ?? []
            let digest = owners.map { state.digestEntry(of: $0) }
            counters.stateRepairs += 1
            let pp = PushPull(
                join: false, isReply: false, sender: name, senderAddress: address,
                sections: Self.stateDigestSections(digest))
            outbox.append(.stream(to: peer, .pushPull(pp), conversation: newConversation()))
            for owner in owners {
                guard var g = state.gaps[owner] else { continue }
                g.asked = true
                g.attempts += 1
                g.since = now
                g.hash = state.digestEntry(of: owner).hash
                state.gaps[owner] = g
            }
        }
        if !state.gaps.isEmpty {
            state.repairArmed = true
            armReplacing(.state(.repair), at: now + wait)
        }
    }

    /// After an exchange's reply is merged: a gap of an owner on which this replica and the
    /// responder now agree (same live rows, same newest) is closed. One that still differs
    /// (the responder was behind too) is asked of the owner at the next attempt.
    ///
    /// Equal is not complete: a member that lost the same row (this replica's tree parent, whose
    /// loss cut it off) is as behind, and agrees. Equality closes the gap when the responder is
    /// the owner, or when this replica's rows of the owner changed since the gap was opened or
    /// asked (the exchange or the trees brought something); otherwise the gap stays, and its
    /// next attempt goes to the owner (`stateGapsEscalated`).
    mutating func settleGaps(_ peer: [String: OwnerDigest], peer address: Address) {
        guard !state.gaps.isEmpty else { return }
        for (owner, d) in peer {
            guard var g = state.gaps[owner] else { continue }
            let mine = state.digestEntry(of: owner)
            guard mine.hash == d.hash, mine.newest == d.newest else { continue }
            let fromOwner = table.position(of: owner).map { table[$0].address == address } ?? false
            if fromOwner || mine.hash != g.hash {
                state.gaps[owner] = nil
            } else if !g.asked {
                // Not asked yet: the first request goes to the owner.
                g.asked = true
                state.gaps[owner] = g
                counters.stateGapsEscalated += 1
            } else {
                counters.stateGapsEscalated += 1
            }
        }
    }

    // MARK: announcements

    /// Queues the announcement of `owner`'s newest version for the next flush.
    mutating func announceLater(_ owner: String) {
        guard settings.stateTrees > 0, settings.stateLazyTrees > 0 else { return }
        if state.toAnnounce.isEmpty {
            armReplacing(.state(.announce), at: now + settings.gossipInterval)
        }
        if state.toAnnounce.count < settings.maxMembers { state.toAnnounce.insert(owner) }
    }

    /// Sends each queued owner's newest version to this node's children in the owner's lazy
    /// trees, one datagram per child holding every announcement for it.
    mutating func flushAnnouncements() {
        let owners = state.toAnnounce.sorted()
        state.toAnnounce = []
        guard !owners.isEmpty, !departure.isLeaving else { return }
        let ring = currentStateRing()
        guard let me = ring.me else { return }
        var byChild: [Int: [Message]] = [:]
        var order: [Int] = []
        let lazy = settings.stateTrees..<(settings.stateTrees + settings.stateLazyTrees)
        for owner in owners {
            guard let root = ring.position(of: owner, tablePosition: table.position(of: owner)) else { continue }
            let v = state.newest(of: owner)
            guard v > 0 else { continue }
            for c in StateTrees.children(of: me, root: root, count: ring.count, trees: lazy, fanout: settings.stateTreeFanout) {
                if byChild[c] == nil { order.append(c) }
                byChild[c, default: []].append(.stateNewest(StateNewest(owner: owner, version: v)))
            }
        }
        for c in order {
            guard let i = table.position(of: ring.members[c]), table.status(at: i) <= .suspect else { continue }
            let address = table.identity(at: i).address
            var batch: [Message] = []
            var used = 0
            for m in byChild[c] ?? [] {
                let size = m.encodedSize
                if !batch.isEmpty, used + size > settings.payloadBudget {
                    counters.stateAnnouncementsOut += batch.count
                    sendAlone(batch, to: address)
                    batch = []
                    used = 0
                }
                batch.append(m)
                used += size
            }
            if !batch.isEmpty {
                counters.stateAnnouncementsOut += batch.count
                sendAlone(batch, to: address)
            }
        }
    }
}

extension ReplicatedState {
    /// A suspected hole in an owner's versions: `missing` of the versions in `low + 1 ... high`
    /// not seen yet (`high` is known to exist). `peer` holds `high`.
    struct Gap: Sendable {
        var low: UInt64
        var high: UInt64
        var missing: Int
        var peer: Address
        var since: Instant
        /// This replica's digest hash of the owner when the gap was opened or last asked.
        var hash: UInt64
        var asked = false
        var attempts = 0
    }

    /// The newest version held of `owner` (tombstones included), 0 for none.
    func newest(of owner: String) -> UInt64 { owners[owner]?.newest ?? 0 }

    /// `owner`'s digest entry, an owner held only as tombstones or not at all included.
    func digestEntry(of owner: String) -> OwnerDigest {
        let o = owners[owner]
        return OwnerDigest(owner: owner, hash: o?.hash ?? 0, newest: o?.newest ?? 0)
    }
}
