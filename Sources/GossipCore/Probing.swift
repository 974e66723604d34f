/// SWIM failure detection, as the router runs it: one probe per (health-scaled) protocol
/// period, direct ping first, then indirect pings through k helpers, then suspicion. The state
/// lives in `FailureDetector`; the probe order in `MemberTable`.
extension GossipInstance {
    /// Probes the next member in the round-robin order. A full pass over the list ends a round:
    /// the list is reaped of long-gone members and shuffled (SWIM section 4.3), which bounds the
    /// time to first detection to one round in the worst case.
    ///
    /// The round covers confirmed members only, those that have answered this node's probes.
    /// Members known only from others' word take a second lane, one probe per period while
    /// any exist. A flood of invented members (or a large join) then costs one extra probe per
    /// period, and cannot stretch the round in which a real member's failure is found.
    mutating func probeNext() {
        let period = settings.lifeguard ? detector.health.scale(settings.probeInterval) : settings.probeInterval
        armReplacing(.failureDetector(.probe), at: now + period)
        if table.hasConfirmedPeers {
            var checked = 0
            while checked < table.count {
                if table.wrapRoundIfDone() { endRound() }
                let i = table.takeRoundPosition()
                checked += 1
                if !table.isRoundTarget(i, selfName: name) { continue }
                probe(table[i], period: period)
                break
            }
        } else {
            // Nobody to probe in the round yet; it still turns, so that reaping still happens.
            _ = table.takeRoundPosition()
            if table.wrapRoundIfDone() { endRound() }
        }
        if let i = table.nextUnconfirmed() { probe(table[i], period: period) }
    }

    /// Ends a probe round: forgets members failed or departed long enough ago, and reshuffles.
    mutating func endRound() {
        let reaped = table.reap(
            now: now, failedAfter: settings.reapFailedAfter, leftAfter: settings.reapLeftAfter, keeping: name)
        for m in reaped { memberChanged(.reaped, m) }
        table.shuffle(rng: &rng)
    }

    mutating func probe(_ target: Member, period: Duration) {
        let seq = detector.nextSequence()
        counters.probes += 1
        detector.startProbe(seq, target: target)
        let ping = Message.ping(Ping(sequence: seq, target: target.name, source: name, sourceAddress: address))
        var messages = [ping]
        // Lifeguard buddy system: a suspect learns of the suspicion from the probe itself, so
        // it can refute at once instead of waiting for gossip to reach it. Only if it fits: with
        // long names and the smallest budget, ping and suspicion together can exceed it (found
        // by the core fuzzer); the suspicion then reaches the suspect by gossip.
        if settings.lifeguard, target.status == .suspect, let s = detector.suspicion(of: target.name) {
            let buddy = Message.suspect(Suspect(incarnation: s.incarnation, name: target.name, from: name))
            if ping.encodedSize + buddy.encodedSize <= settings.payloadBudget { messages.append(buddy) }
        }
        send(messages, to: target.address)
        let timeout = settings.lifeguard ? detector.health.scale(settings.probeTimeout) : settings.probeTimeout
        armAdditional(.failureDetector(.probeTimeout), token: UInt64(seq), at: now + timeout)
        armAdditional(.failureDetector(.probeDeadline), token: UInt64(seq), at: now + period)
    }

    /// No direct ack in time: ask up to k random live members to probe the target for us.
    mutating func probeTimedOut(_ seq: UInt32) {
        guard let targetName = detector.directProbeTarget(seq), let i = table.position(of: targetName) else { return }
        let target = table[i]
        let helpers = table.randomHelpers(settings.indirectChecks, excluding: name, target: target.name, rng: &rng)
        for h in helpers {
            let request = Message.indirectPing(
                IndirectPing(
                    sequence: seq, target: target.name, targetAddress: target.address, requester: name,
                    requesterAddress: address, wantsNack: settings.lifeguard))
            send([request], to: table[h].address)
        }
        counters.indirectProbes += helpers.count
        detector.wentIndirect(seq, expectedNacks: settings.lifeguard ? helpers.count : 0)
    }

    /// The protocol period is over without an ack: suspect the target. Lifeguard charges the
    /// local health score for each helper that did not even send a nack, since then the
    /// problem is more likely here than there.
    mutating func probeDeadlinePassed(_ seq: UInt32) {
        guard let p = detector.endProbe(seq) else { return }
        if settings.lifeguard, let missed = p.missedEvent { detector.record(missed) }
        guard let i = table.position(of: p.target), table[i].status == .alive else { return }
        // The silence was of the life probed: a member that came back at a higher incarnation
        // (or another address) while the probe was open is probed afresh, not accused.
        guard p.accuses(table[i]) else { return }
        suspect(Suspect(incarnation: p.incarnation, name: p.target, from: name), local: true)
    }

    /// Acks to the datagram's source, never to the address the ping names: a forged ping must
    /// not turn this node into a reflector.
    mutating func receivePing(_ ping: Ping, from: Address) {
        guard ping.target == name else {
            counters.misdirectedPings += 1
            return
        }
        // A member probing us from its own address is heard directly, as good as an ack.
        if let i = table.position(of: ping.source), table[i].address == from { table.confirm(i) }
        reply([.ack(Ack(sequence: ping.sequence))], to: from, member: ping.source)
    }

    /// Probes a member for someone else. Only members this node knows as live are probed, at
    /// the address this node knows, and only so many at once: the request cannot aim this
    /// node's pings at a third party.
    mutating func receiveIndirectPing(_ req: IndirectPing, from: Address) {
        guard let i = table.position(of: req.target), table[i].status <= .suspect, req.target != name else {
            // Lifeguard's nack tells the requester that its request got through, which is all it
            // measures: withheld here, the requester would count this node's view of the target
            // (failed already, or never heard of) against its own health.
            if req.wantsNack { reply([.nack(Nack(sequence: req.sequence))], to: from, member: req.requester) }
            return refuse(.unknownRelayTarget, from: from)
        }
        guard detector.canRelay else { return refuse(.excessRequests, from: from) }
        guard address.canReach(from) else { return refuse(.unusableAddress, from: from) }
        let seq = detector.nextSequence()
        detector.startRelay(
            seq,
            Relay(requester: req.requester, requesterAddress: from, requesterSequence: req.sequence, wantsNack: req.wantsNack))
        send([.ping(Ping(sequence: seq, target: req.target, source: name, sourceAddress: address))], to: table[i].address)
        armAdditional(.failureDetector(.indirectTimeout), token: UInt64(seq), at: now + settings.probeTimeout)
    }

    mutating func relayTimedOut(_ seq: UInt32) {
        guard let r = detector.endRelay(seq), r.wantsNack else { return }
        reply([.nack(Nack(sequence: r.requesterSequence))], to: r.requesterAddress, member: r.requester)
    }

    mutating func receiveAck(_ ack: Ack) {
        if let r = detector.endRelay(ack.sequence) {
            reply([.ack(Ack(sequence: r.requesterSequence))], to: r.requesterAddress, member: r.requester)
            return
        }
        guard let p = detector.endProbe(ack.sequence) else { return }
        if let i = table.position(of: p.target) { table.confirm(i) }
        // Only a timely direct ack is evidence that this node itself is healthy.
        if settings.lifeguard, !p.indirect { detector.record(.probeAcked) }
    }

    mutating func receiveNack(_ nack: Nack) {
        detector.nackReceived(nack.sequence)
    }
}
