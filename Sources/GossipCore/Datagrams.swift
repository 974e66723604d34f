/// Gossip over datagrams, as the router runs it: every datagram carries as many queued updates
/// as fit in the byte budget, least transmitted first; periodic rounds send them to a few random
/// members; locally made updates go out at once. The queues live in `Dissemination`.
extension GossipInstance {
    /// Sends `messages` to `to`, topped up with queued updates up to the payload budget.
    ///
    /// Messages that came from a peer (a relayed answer, an event pushed on) may be larger than
    /// this node's budget when the peer's is larger: such a datagram is not sent, and counted.
    mutating func send(_ messages: [Message], to: Address) {
        var messages = messages
        messages.reserveCapacity(16)
        var budget = settings.payloadBudget
        for m in messages { budget -= m.encodedSize }
        if budget < 0 {
            counters.oversizedNotSent += 1
            return
        }
        dissemination.fill(into: &messages, budget: &budget, liveCount: table.liveCount)
        counters.messagesOut += messages.count
        outbox.append(.datagram(to: to, messages: messages))
    }

    /// One gossip round: queued updates to `gossipNodes` random members. Members that failed
    /// or left recently are included, so that a member wrongly declared dead hears of it and refutes.
    mutating func gossipRound() {
        guard dissemination.count > 0 else { return }
        let deadWindow = settings.gossipToTheDead
        let now = self.now
        let targets = table.randomMembers(settings.gossipNodes, excluding: name, rng: &rng) { m in
            m.status <= .suspect || now - m.statusChangedAt < deadWindow
        }
        for t in targets {
            guard dissemination.count > 0 else { break }
            var messages: [Message] = []
            messages.reserveCapacity(16)
            var budget = settings.payloadBudget
            dissemination.fill(into: &messages, budget: &budget, liveCount: table.liveCount)
            if messages.isEmpty { break }
            counters.messagesOut += messages.count
            outbox.append(.datagram(to: table[t].address, messages: messages))
        }
    }

    /// Queues an update about a member learned from elsewhere.
    mutating func broadcast(_ message: Message, about member: String) {
        dissemination.enqueue(message, key: .member(member))
    }

    /// Queues an update about a member this node made itself, and sends it at once.
    mutating func broadcastLocal(_ message: Message, about member: String) {
        dissemination.enqueue(message, key: .member(member), sendNow: true)
    }

    mutating func broadcastSelfAlive() {
        broadcastLocal(.alive(selfAlive), about: name)
    }

    /// This node's alive at its current incarnation, address and tags.
    var selfAlive: Alive { Alive(incarnation: incarnation, name: name, address: address, tags: tags) }

    /// Handles one datagram. A datagram buys at most one reply: honest members send one ping or
    /// one indirect ping per datagram, so further requests in the same datagram are refused.
    mutating func receive(_ messages: [Message], from: Address) {
        counters.messagesIn += messages.count
        if departure.hasLeft { return }
        var answered = false
        // News already held is dropped before the admission checks: its identity box passed
        // them when it was taken (`MemberTable.heldAlives`).
        let held = table.heldAlives(in: messages, selfName: name)
        for (k, m) in messages.enumerated() {
            if k < 64, held & (1 << UInt64(k)) != 0 { continue }
            // A copy of a row held is dropped before the checks: it names the table, owner and
            // key of a row that passed them, and its version is at most that row's (one not
            // above 0 is refused as before). Eager pushes make these most of what arrives.
            if case .stateRow(let r) = m, r.version > 0, r.owner != name, state.holdsAtLeast(r) {
                counters.stateRowDuplicates += 1
                continue
            }
            if let reason = refusal(for: m) {
                refuse(reason, from: from)
                continue
            }
            switch m {
            case .ping, .indirectPing:
                if answered {
                    refuse(.excessRequests, from: from)
                    continue
                }
                answered = true
                if case .ping(let p) = m { receivePing(p, from: from) }
                if case .indirectPing(let p) = m { receiveIndirectPing(p, from: from) }
            case .ack(let a): receiveAck(a)
            case .nack(let n): receiveNack(n)
            case .alive(let a): alive(a, from: from)
            case .suspect(let s): suspect(s, local: false, from: from)
            case .dead(let d): dead(d, local: false, from: from)
            case .userEvent(let e): receive(e, from: from, pushOn: true)
            case .query(let q): receive(q, from: from)
            case .queryResponse(let r): receive(r, from: from)
            case .relay(let r): receive(r, from: from)
            case .stateRow(let r): receive(r, from: from, pushOn: true, as: m)
            case .stateNewest(let n): announced(n, from: from)
            }
        }
    }
}
