/// Gossip: every datagram carries as many queued updates as fit in the byte budget, least
/// transmitted first; periodic rounds send them to a few random members; locally made updates
/// go out at once.
extension GossipInstance {
    /// A fresh message list for one datagram.
    func takeScratch() -> [Message] {
        var m: [Message] = []
        m.reserveCapacity(16)
        return m
    }

    var retransmitLimit: Int {
        Formulas.retransmitLimit(multiplier: settings.retransmitMultiplier, members: liveCount)
    }

    /// Sends `messages` to `to`, topped up with queued updates up to the payload budget.
    mutating func send(_ messages: [Message], to: Address) {
        var messages = messages
        var budget = settings.payloadBudget
        for m in messages { budget -= m.encodedSize }
        queue.fill(into: &messages, budget: &budget, limit: retransmitLimit)
        counters.messagesOut += messages.count
        outbox.append(.datagram(to: to, messages: messages))
    }

    /// One gossip round: queued updates to `gossipNodes` random members. Members that failed
    /// or left recently are included, so that a member wrongly declared dead hears of it and refutes.
    mutating func gossipRound(_ now: Instant) {
        guard queue.count > 0 else { return }
        let deadWindow = settings.gossipToTheDead
        let targets = randomMembers(settings.gossipNodes) { m in
            m.status <= .suspect || now - m.statusChangedAt < deadWindow
        }
        for t in targets {
            guard queue.count > 0 else { break }
            var messages = takeScratch()
            var budget = settings.payloadBudget
            queue.fill(into: &messages, budget: &budget, limit: retransmitLimit)
            if messages.isEmpty { break }
            counters.messagesOut += messages.count
            outbox.append(.datagram(to: members[t].address, messages: messages))
        }
    }

    /// Queues an update learned from elsewhere.
    mutating func broadcast(_ message: Message, about key: String) {
        queue.enqueue(message, key: key)
    }

    /// Queues an update this node made itself, and sends it at once.
    mutating func broadcastLocal(_ message: Message, about key: String) {
        queue.enqueue(message, key: key)
        eager = true
    }

    mutating func broadcastSelfAlive() {
        broadcastLocal(.alive(Alive(incarnation: incarnation, name: name, address: address, tags: tags)), about: name)
    }

    /// Handles one datagram. A datagram buys at most one reply: honest members send one ping or
    /// one indirect ping per datagram, so further requests in the same datagram are refused.
    mutating func receive(_ messages: [Message], from: Address, _ now: Instant) {
        counters.messagesIn += messages.count
        if hasLeft { return }
        var answered = false
        for m in messages {
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
                if case .ping(let p) = m { receivePing(p, from: from, now) }
                if case .indirectPing(let p) = m { receiveIndirectPing(p, from: from, now) }
            case .ack(let a): receiveAck(a, now)
            case .nack(let n): receiveNack(n)
            case .alive(let a): alive(a, now, from: from)
            case .suspect(let s): suspect(s, now, local: false, from: from)
            case .dead(let d): dead(d, now, local: false, from: from)
            }
        }
    }
}
