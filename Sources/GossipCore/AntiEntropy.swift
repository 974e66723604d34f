/// Push/pull anti-entropy: full state exchanges over a stream, on join, periodically with one
/// random member, and with failed members so that a healed partition finds its other half.
///
/// An exchange is a conversation: the request goes out on a connection this node opens, the
/// reply comes back on the same connection (as memberlist does). A node whose own port the
/// responder cannot reach still joins, and a forged request cannot aim a reply at a third party.
extension GossipInstance {
    func localState(join: Bool, reply: Bool) -> StreamMessage {
        .pushPull(PushPull(join: join, isReply: reply, sender: name, senderAddress: address, members: members.map(\.state)))
    }

    mutating func join(_ seeds: [Address], _ now: Instant) {
        let targets = seeds.filter { $0 != address }
        guard !isLeaving, !targets.isEmpty else {
            outbox.append(.joinCompleted(JoinOutcome(contacted: 0)))
            return
        }
        // A join while another is under way replaces it; its result goes to every waiter.
        joinState = JoinState(seeds: targets)
        // Our arrival is announced by us: the seeds learn of us through the exchange and do not
        // gossip merged entries on.
        broadcastSelfAlive()
        sendJoin(now)
    }

    mutating func sendJoin(_ now: Instant) {
        guard var j = joinState else { return }
        j.answered = 0
        j.failed = 0
        j.pending.removeAll()
        for s in j.seeds {
            let c = newConversation()
            j.pending[c] = s
            outbox.append(.stream(to: s, localState(join: true, reply: false), conversation: c))
        }
        joinState = j
        // Backoff doubles each attempt, as Serf's retry-join does.
        arm(.joinRetry, at: now + settings.joinRetryInterval * (1 << min(j.attempt - 1, 16)))
    }

    mutating func joinRetry(_ now: Instant) {
        guard var j = joinState else { return }
        if j.answered > 0 { return completeJoin() }
        if j.attempt >= settings.joinMaxAttempts {
            finishJoin(JoinOutcome(contacted: 0))
            return
        }
        j.attempt += 1
        joinState = j
        sendJoin(now)
    }

    mutating func completeJoin() {
        guard let j = joinState else { return }
        finishJoin(JoinOutcome(contacted: j.answered))
    }

    mutating func finishJoin(_ outcome: JoinOutcome) {
        joinState = nil
        periodic[.joinRetry] = nil
        outbox.append(.joinCompleted(outcome))
    }

    mutating func streamFailed(_ conversation: ConversationID, _ now: Instant) {
        guard var j = joinState, j.pending.removeValue(forKey: conversation) != nil else { return }
        j.failed += 1
        joinState = j
        // Every seed refused: wait for the retry timer rather than hammering them.
        if j.answered > 0, j.answered + j.failed >= j.seeds.count { completeJoin() }
    }

    mutating func receive(_ message: StreamMessage, from: Address, conversation: ConversationID, _ now: Instant) {
        guard case .pushPull(let pp) = message, !hasLeft else { return }
        counters.pushPulls += 1
        if conversation.isInbound {
            merge(pp, from: from, now)
            outbox.append(.reply(conversation: conversation, localState(join: false, reply: true)))
            return
        }
        guard var j = joinState, j.pending.removeValue(forKey: conversation) != nil else {
            return merge(pp, from: from, now)
        }
        // The seed knows this node's name live elsewhere: refuse the join rather than merge a
        // cluster in which two processes would answer to one name.
        if let taken = pp.members.first(where: { $0.name == name && $0.status <= .suspect && $0.address != address }) {
            let c = NameConflict(name: name, known: address, claimed: taken.address, isSelf: true)
            conflict(c, from: from)
            return finishJoin(JoinOutcome(contacted: 0, conflict: c))
        }
        merge(pp, from: from, now)
        j.answered += 1
        joinState = j
        if j.answered + j.failed >= j.seeds.count { completeJoin() }
    }

    /// Applies a remote member list as if its entries had arrived as gossip, each checked by
    /// `Admission` first, and at most `maxMembersLearnedPerExchange` of them new.
    ///
    /// Only live entries introduce members. A member this node does not know, reported suspect
    /// or failed, is not announced as joined on the word of an accusation (memberlist's
    /// mergeState does the same); this also keeps a reaped member reaped. A remote "dead" about
    /// a known member counts only as a suspicion here: this node has not seen the death itself,
    /// and the member deserves the chance to refute.
    mutating func merge(_ pp: PushPull, from: Address, _ now: Instant) {
        guard Limits.isValidName(pp.sender) else { return refuse(.invalidName, from: from) }
        exchangeBudget = settings.maxMembersLearnedPerExchange
        defer { exchangeBudget = nil }
        for m in pp.members {
            if let reason = refusal(for: m) {
                refuse(reason, from: from)
                continue
            }
            switch m.status {
            case .alive:
                alive(Alive(incarnation: m.incarnation, name: m.name, address: m.address, tags: m.tags), now, from: from)
            case .left:
                dead(Dead(incarnation: m.incarnation, name: m.name, from: m.name, left: true), now, local: false)
            case .suspect, .failed:
                suspect(Suspect(incarnation: m.incarnation, name: m.name, from: pp.sender), now, local: false)
            }
        }
    }

    mutating func pushPullRound(_ now: Instant) {
        guard let i = randomMembers(1, accept: { $0.status == .alive }).first else { return }
        outbox.append(.stream(to: members[i].address, localState(join: false, reply: false), conversation: newConversation()))
    }

    /// Serf's reconnect: with probability failed/alive (or `always`), try one random failed
    /// member. Without it a partition, once each side has declared the other dead, never heals.
    mutating func reconnectRound(_ now: Instant, always: Bool) {
        var failed = 0
        for m in members where m.status == .failed { failed += 1 }
        guard failed > 0 else { return }
        let p = Double(failed) / Double(max(liveCount, 1))
        if !always, rng.unit() >= p { return }
        var pick = rng.index(below: failed)
        for m in members where m.status == .failed {
            if pick == 0 {
                outbox.append(.stream(to: m.address, localState(join: false, reply: false), conversation: newConversation()))
                return
            }
            pick -= 1
        }
    }
}
