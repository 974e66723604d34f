/// Push/pull anti-entropy: full state exchanges over a stream, on join, periodically with one
/// random member, and with failed members so that a healed partition finds its other half.
extension GossipInstance {
    func localState(join: Bool, reply: Bool) -> StreamMessage {
        .pushPull(PushPull(join: join, isReply: reply, sender: name, senderAddress: address, members: members.map(\.state)))
    }

    mutating func join(_ seeds: [Address], _ now: Instant) {
        let targets = seeds.filter { $0 != address }
        guard !isLeaving, !targets.isEmpty else {
            outbox.append(.joinCompleted(contacted: 0))
            return
        }
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
        joinState = j
        for s in j.seeds { outbox.append(.stream(to: s, localState(join: true, reply: false))) }
        // Backoff doubles each attempt, as Serf's retry-join does.
        arm(.joinRetry, at: now + settings.joinRetryInterval * (1 << min(j.attempt - 1, 16)))
    }

    mutating func joinRetry(_ now: Instant) {
        guard var j = joinState else { return }
        if j.answered > 0 { return completeJoin() }
        if j.attempt >= settings.joinMaxAttempts {
            joinState = nil
            outbox.append(.joinCompleted(contacted: 0))
            return
        }
        j.attempt += 1
        joinState = j
        sendJoin(now)
    }

    mutating func completeJoin() {
        guard let j = joinState else { return }
        joinState = nil
        periodic[.joinRetry] = nil
        outbox.append(.joinCompleted(contacted: j.answered))
    }

    mutating func streamFailed(_ to: Address, _ now: Instant) {
        guard var j = joinState, j.seeds.contains(to) else { return }
        j.failed += 1
        joinState = j
        // Every seed refused: wait for the retry timer rather than hammering them.
        if j.answered > 0, j.answered + j.failed >= j.seeds.count { completeJoin() }
    }

    mutating func receive(_ message: StreamMessage, from: Address, _ now: Instant) {
        guard case .pushPull(let pp) = message, !hasLeft else { return }
        counters.pushPulls += 1
        merge(pp, now)
        if !pp.isReply {
            outbox.append(.stream(to: pp.senderAddress, localState(join: false, reply: true)))
        } else if var j = joinState {
            j.answered += 1
            joinState = j
            if j.answered + j.failed >= j.seeds.count { completeJoin() }
        }
    }

    /// Applies a remote member list as if its entries had arrived as gossip. A remote "dead"
    /// counts only as a suspicion here: this node has not seen the death itself, and the member
    /// deserves the chance to refute (memberlist does the same).
    mutating func merge(_ pp: PushPull, _ now: Instant) {
        for m in pp.members {
            switch m.status {
            case .alive:
                alive(Alive(incarnation: m.incarnation, name: m.name, address: m.address, tags: m.tags), now, local: false)
            case .left:
                dead(Dead(incarnation: m.incarnation, name: m.name, from: m.name, left: true), now, local: false)
            case .suspect, .dead:
                if index[m.name] == nil, m.name != name {
                    // Learn of it as it was before the accusation, then consider the accusation.
                    alive(Alive(incarnation: m.incarnation, name: m.name, address: m.address, tags: m.tags), now, local: false)
                }
                suspect(Suspect(incarnation: m.incarnation, name: m.name, from: pp.sender), now, local: false)
            }
        }
    }

    mutating func pushPullRound(_ now: Instant) {
        guard let i = randomMembers(1, accept: { $0.status == .alive }).first else { return }
        outbox.append(.stream(to: members[i].address, localState(join: false, reply: false)))
    }

    /// Serf's reconnect: with probability failed/alive, try one random failed member. Without it
    /// a partition, once each side has declared the other dead, never heals.
    mutating func reconnectRound(_ now: Instant) {
        var failed = 0
        for m in members where m.status == .dead { failed += 1 }
        guard failed > 0 else { return }
        let p = Double(failed) / Double(max(liveCount, 1))
        if rng.unit() >= p { return }
        var pick = rng.index(below: failed)
        for m in members where m.status == .dead {
            if pick == 0 {
                outbox.append(.stream(to: m.address, localState(join: false, reply: false)))
                return
            }
            pick -= 1
        }
    }
}
