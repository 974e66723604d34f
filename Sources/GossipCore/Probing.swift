/// SWIM failure detection: one probe per (health-scaled) protocol period, direct ping first,
/// then indirect pings through k helpers, then suspicion.
extension GossipInstance {
    /// Probes the next member in the round-robin order. A full pass over the list ends a round:
    /// the list is reaped of long-gone members and shuffled (SWIM section 4.3), which bounds the
    /// time to first detection to one round in the worst case.
    ///
    /// The round covers confirmed members only, those that have answered this node's probes.
    /// Members known only from others' word take a second lane, one probe per period while
    /// any exist. A flood of invented members (or a large join) then costs one extra probe per
    /// period, and cannot stretch the round in which a real member's failure is found.
    mutating func probeNext(_ now: Instant) {
        let period = settings.lifeguard ? health.scale(settings.probeInterval) : settings.probeInterval
        arm(.probe, at: now + period)
        if liveCount - unconfirmedLive > 1 {
            var checked = 0
            while checked < members.count {
                if probeCursor >= members.count {
                    probeCursor = 0
                    endRound(now)
                }
                let i = probeCursor
                probeCursor += 1
                checked += 1
                if !confirmed[i] || members[i].status > .suspect || members[i].name == name { continue }
                probe(members[i], now, period: period)
                break
            }
        } else {
            // Nobody to probe in the round yet; it still turns, so that reaping still happens.
            probeCursor += 1
            if probeCursor >= members.count {
                probeCursor = 0
                endRound(now)
            }
        }
        guard unconfirmedLive > 0 else { return }
        for _ in 0..<members.count {
            if unconfirmedCursor >= members.count { unconfirmedCursor = 0 }
            let i = unconfirmedCursor
            unconfirmedCursor += 1
            if confirmed[i] || members[i].status > .suspect { continue }
            probe(members[i], now, period: period)
            return
        }
    }

    mutating func probe(_ target: Member, _ now: Instant, period: Duration) {
        let seq = nextSequence()
        counters.probes += 1
        probes[seq] = PendingProbe(target: target.name)
        var messages = takeScratch()
        let ping = Message.ping(Ping(sequence: seq, target: target.name, source: name, sourceAddress: address))
        messages.append(ping)
        // Lifeguard buddy system: a suspect learns of the suspicion from the probe itself, so
        // it can refute at once instead of waiting for gossip to reach it. Only if it fits: with
        // long names and the smallest budget, ping and suspicion together can exceed it (found
        // by the core fuzzer); the suspicion then reaches the suspect by gossip.
        if settings.lifeguard, target.status == .suspect, let s = suspicions[target.name] {
            let buddy = Message.suspect(Suspect(incarnation: s.incarnation, name: target.name, from: name))
            if ping.encodedSize + buddy.encodedSize <= settings.payloadBudget { messages.append(buddy) }
        }
        send(messages, to: target.address)
        let timeout = settings.lifeguard ? health.scale(settings.probeTimeout) : settings.probeTimeout
        armOnce(.probeTimeout, token: UInt64(seq), at: now + timeout)
        armOnce(.probeDeadline, token: UInt64(seq), at: now + period)
    }

    /// No direct ack in time: ask up to k random live members to probe the target for us.
    mutating func probeTimedOut(_ seq: UInt32, _ now: Instant) {
        guard var p = probes[seq], !p.indirect, let i = index[p.target] else { return }
        p.indirect = true
        let target = members[i]
        let helpers = randomMembers(settings.indirectChecks) { m in
            m.status == .alive && m.name != target.name
        }
        for h in helpers {
            var messages = takeScratch()
            messages.append(
                .indirectPing(
                    IndirectPing(
                        sequence: seq, target: target.name, targetAddress: target.address, requester: name,
                        requesterAddress: address, wantsNack: settings.lifeguard)))
            send(messages, to: members[h].address)
        }
        counters.indirectProbes += helpers.count
        p.expectedNacks = settings.lifeguard ? helpers.count : 0
        probes[seq] = p
    }

    /// The protocol period is over without an ack: suspect the target. Lifeguard charges the
    /// local health score for each helper that did not even send a nack, since then the
    /// problem is more likely here than there.
    mutating func probeDeadlinePassed(_ seq: UInt32, _ now: Instant) {
        guard let p = probes.removeValue(forKey: seq) else { return }
        if settings.lifeguard {
            health.apply(p.expectedNacks > 0 ? max(0, p.expectedNacks - p.nacks) : 1)
        }
        guard let i = index[p.target], members[i].status == .alive else { return }
        suspect(Suspect(incarnation: members[i].incarnation, name: p.target, from: name), now, local: true)
    }

    /// Acks to the datagram's source, never to the address the ping names: a forged ping must
    /// not turn this node into a reflector.
    mutating func receivePing(_ ping: Ping, from: Address, _ now: Instant) {
        guard ping.target == name else {
            counters.misdirectedPings += 1
            return
        }
        // A member probing us from its own address is heard directly, as good as an ack.
        if let i = index[ping.source], members[i].address == from { confirm(i) }
        var messages = takeScratch()
        messages.append(.ack(Ack(sequence: ping.sequence)))
        reply(messages, to: from, member: ping.source)
    }

    /// Probes a member for someone else. Only members this node knows as live are probed, at
    /// the address this node knows, and only so many at once: the request cannot aim this
    /// node's pings at a third party.
    mutating func receiveIndirectPing(_ req: IndirectPing, from: Address, _ now: Instant) {
        guard let i = index[req.target], members[i].status <= .suspect, req.target != name else {
            return refuse(.unknownRelayTarget, from: from)
        }
        guard relays.count < Self.maxRelays else { return refuse(.excessRequests, from: from) }
        guard address.canReach(from) else { return refuse(.unusableAddress, from: from) }
        let seq = nextSequence()
        relays[seq] = Relay(
            requester: req.requester, requesterAddress: from, requesterSequence: req.sequence, wantsNack: req.wantsNack)
        var messages = takeScratch()
        messages.append(.ping(Ping(sequence: seq, target: req.target, source: name, sourceAddress: address)))
        send(messages, to: members[i].address)
        armOnce(.indirectTimeout, token: UInt64(seq), at: now + settings.probeTimeout)
    }

    /// Indirect probes in flight for others. Honest load is about `indirectChecks` per member
    /// per protocol period, spread over the cluster; the bound only stops a flood.
    static let maxRelays = 256

    mutating func relayTimedOut(_ seq: UInt32, _ now: Instant) {
        guard let r = relays.removeValue(forKey: seq), r.wantsNack else { return }
        var messages = takeScratch()
        messages.append(.nack(Nack(sequence: r.requesterSequence)))
        reply(messages, to: r.requesterAddress, member: r.requester)
    }

    mutating func receiveAck(_ ack: Ack, _ now: Instant) {
        if let r = relays.removeValue(forKey: ack.sequence) {
            var messages = takeScratch()
            messages.append(.ack(Ack(sequence: r.requesterSequence)))
            reply(messages, to: r.requesterAddress, member: r.requester)
            return
        }
        guard let p = probes.removeValue(forKey: ack.sequence) else { return }
        if let i = index[p.target] { confirm(i) }
        // Only a timely direct ack is evidence that this node itself is healthy.
        if settings.lifeguard, !p.indirect { health.apply(-1) }
    }

    mutating func receiveNack(_ nack: Nack) {
        probes[nack.sequence]?.nacks += 1
    }

    /// Ends a probe round: forgets members failed or departed long enough ago, and reshuffles.
    mutating func endRound(_ now: Instant) {
        var i = 0
        while i < members.count {
            let m = members[i]
            let limit: Duration? =
                switch m.status {
                case .failed: settings.reapFailedAfter
                case .left: settings.reapLeftAfter
                default: nil
                }
            if let limit, m.name != name, now - m.statusChangedAt >= limit {
                emit(.reaped, remove(at: i))
            } else {
                i += 1
            }
        }
        var j = members.count - 1
        while j > 0 {
            swapMembers(j, rng.index(below: j + 1))
            j -= 1
        }
    }

    /// Up to `k` distinct random members other than this node that pass `accept`, found by
    /// bounded random sampling (memberlist's kRandomNodes), so the cost does not grow with N.
    mutating func randomMembers(_ k: Int, accept: (Member) -> Bool) -> [Int] {
        var picked: [Int] = []
        guard k > 0, members.count > 1 else { return picked }
        var tries = 0
        while picked.count < k, tries < 3 * members.count, tries < 3 * k + 64 {
            tries += 1
            let i = rng.index(below: members.count)
            let m = members[i]
            if m.name == name || picked.contains(i) || !accept(m) { continue }
            picked.append(i)
        }
        return picked
    }
}
