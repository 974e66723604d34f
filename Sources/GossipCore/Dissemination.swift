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

    mutating func receive(_ messages: [Message], from: Address, _ now: Instant) {
        counters.messagesIn += messages.count
        if hasLeft { return }
        for m in messages {
            switch m {
            case .ping(let p): receivePing(p, from: from, now)
            case .indirectPing(let p): receiveIndirectPing(p, now)
            case .ack(let a): receiveAck(a, now)
            case .nack(let n): receiveNack(n)
            case .alive(let a): alive(a, now, local: false)
            case .suspect(let s): suspect(s, now, local: false, from: from)
            case .dead(let d): dead(d, now, local: false, from: from)
            }
        }
    }
}
