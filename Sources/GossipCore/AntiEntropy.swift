/// Push/pull anti-entropy: full state exchanges over a stream, on join, periodically with one
/// random member, and with failed members so that a healed partition finds its other half.
///
/// An exchange is a conversation: the request goes out on a connection this node opens, the
/// reply comes back on the same connection (as memberlist does). A node whose own port the
/// responder cannot reach still joins, and a forged request cannot aim a reply at a third party.
extension GossipInstance {
    /// This node's state, a section per part (the shell or the simulator splits it into frames).
    /// A reply to a request that carried a digest adds the rows that request's sender lacks.
    func localState(join: Bool, reply: Bool, peerDigest: [String: OwnerDigest]? = nil) -> StreamMessage {
        var sections = table.sections
        sections.append(.events(eventsSection()))
        sections += stateDigestSections()
        if let peerDigest { sections += Self.stateRowSections(state.rows(differingFrom: peerDigest)) }
        return .pushPull(PushPull(join: join, isReply: reply, sender: name, senderAddress: address, sections: sections))
    }

    mutating func join(_ seeds: [Address], id: JoinID, replayEvents: Bool) {
        let targets = seeds.filter { $0 != address }
        guard !departure.isLeaving, !targets.isEmpty else {
            outbox.append(.joinCompleted(JoinOutcome(id: id, contacted: 0)))
            return
        }
        joins.begin(id, seeds: targets, replayEvents: replayEvents)
        // Our arrival is announced by us: the seeds learn of us through the exchange and do not
        // gossip merged entries on.
        broadcastSelfAlive()
        sendJoin(id)
    }

    mutating func sendJoin(_ id: JoinID) {
        guard let (seeds, attempt) = joins.startAttempt(id) else { return }
        for s in seeds {
            let c = newConversation()
            joins.sent(id, to: s, conversation: c)
            outbox.append(.stream(to: s, localState(join: true, reply: false), conversation: c))
        }
        // Backoff doubles each attempt, as Serf's retry-join does.
        let token = newToken()
        joins.armedRetry(id, token: token)
        armAdditional(.join(.retry), token: token, at: now + settings.joinRetryInterval * (1 << min(attempt - 1, 16)))
    }

    mutating func joinRetry(token: UInt64) {
        guard let (id, decision) = joins.retryFired(token: token, maxAttempts: settings.joinMaxAttempts) else { return }
        switch decision {
        case .complete(let contacted): finishJoin(JoinOutcome(id: id, contacted: contacted))
        case .giveUp: finishJoin(JoinOutcome(id: id, contacted: 0))
        case .retry: sendJoin(id)
        }
    }

    mutating func finishJoin(_ outcome: JoinOutcome) {
        joins.forget(outcome.id)
        outbox.append(.joinCompleted(outcome))
    }

    /// A conversation ended before its last frame (or without a reply): what its frames
    /// brought stays merged; the exchange is forgotten and counted.
    mutating func streamFailed(_ conversation: ConversationID) {
        if exchanges.abandon(conversation) { counters.incompleteExchanges += 1 }
        guard let (id, done) = joins.failed(conversation) else { return }
        if let contacted = done { finishJoin(JoinOutcome(id: id, contacted: contacted)) }
    }

    /// One frame of a push/pull. Frames are merged as they arrive, under one learn budget for
    /// the whole exchange; a request is answered after its last frame, and a join counts a
    /// seed as answered after the last frame of its reply.
    mutating func receive(_ message: StreamMessage, from: Address, conversation: ConversationID) {
        guard case .pushPull(let pp) = message, !departure.hasLeft else { return }
        if !exchanges.isOpen(conversation) { counters.pushPulls += 1 }
        counters.unknownSections += pp.unknownSections
        guard var exchange = exchanges.current(conversation, budget: settings.maxMembersLearnedPerExchange, more: pp.more) else {
            return refuse(.excessRequests, from: from)
        }
        defer { exchanges.record(conversation, exchange, more: pp.more) }
        if exchange.ignoring { return }
        gatherDigest(pp, into: &exchange, from: from)
        if pp.sections.contains(where: { if case .members = $0 { true } else { false } }) { exchange.isFullState = true }
        if conversation.isInbound {
            merge(pp, from: from, budget: &exchange.learnBudget, replayEvents: true)
            if !pp.more { answer(exchange, conversation: conversation) }
            return
        }
        guard let id = joins.join(of: conversation) else {
            merge(pp, from: from, budget: &exchange.learnBudget, replayEvents: true)
            if !pp.more { followUp(exchange, to: from) }
            return
        }
        // The seed knows this node's name live elsewhere: refuse the join rather than merge a
        // cluster in which two processes would answer to one name. Suspect there means the
        // seed is asking that holder to prove itself (`contest`): this node's own earlier
        // process, gone, is declared failed within a probe timeout, so the join waits for its
        // next attempt instead of failing.
        if let taken = pp.members.first(where: { $0.name == name && $0.status <= .suspect && $0.address != address }) {
            if taken.status == .suspect {
                exchange.ignoring = true
                counters.joinsWaitingOnContest += 1
                if let (id, done) = joins.failed(conversation), let contacted = done {
                    finishJoin(JoinOutcome(id: id, contacted: contacted))
                }
                return
            }
            let c = NameConflict(name: name, known: address, claimed: taken.address, isSelf: true)
            conflict(c, from: from)
            exchange.ignoring = true
            return finishJoin(JoinOutcome(id: id, contacted: 0, conflict: c))
        }
        // A joining node lacks everything, and its tree children hold it: its join reply's rows stay here.
        merge(pp, from: from, budget: &exchange.learnBudget, replayEvents: joins.replaysEvents(id), forwardRows: false)
        if !pp.more { followUp(exchange, to: from) }
        if !pp.more, let (id, done) = joins.answered(conversation), let contacted = done {
            finishJoin(JoinOutcome(id: id, contacted: contacted))
        }
    }

    /// Answers an inbound exchange after its last frame: a full exchange with this node's
    /// state (and the rows its digest lacks), a follow-up of rows alone with an empty reply.
    /// A repair request (a digest without members, `ReplicatedStateRepair.swift`) is answered
    /// with this node's digest entries and differing rows of the owners it lists alone.
    mutating func answer(_ exchange: OpenExchanges.Exchange, conversation: ConversationID) {
        let sections: [PushPullSection]
        if exchange.isFullState {
            return outbox.append(
                .reply(
                    conversation: conversation,
                    localState(join: false, reply: true, peerDigest: exchange.hasDigest ? exchange.peerDigest : nil)))
        } else if exchange.hasDigest {
            let digest = exchange.peerDigest.keys.sorted().map { state.digestEntry(of: $0) }
            sections =
                Self.stateDigestSections(digest)
                + Self.stateRowSections(state.rows(differingFrom: exchange.peerDigest, listedOnly: true))
        } else {
            sections = []
        }
        let reply: StreamMessage = .pushPull(
            PushPull(join: false, isReply: true, sender: name, senderAddress: address, sections: sections))
        outbox.append(.reply(conversation: conversation, reply))
    }

    /// Applies a remote member list as if its entries had arrived as gossip, each checked by
    /// `Admission` first, and at most `maxMembersLearnedPerExchange` of them new.
    ///
    /// Only live entries introduce members. A member this node does not know, reported suspect
    /// or failed, is not announced as joined on the word of an accusation (memberlist's
    /// mergeState does the same); this also keeps a reaped member reaped. A remote "dead" about
    /// a known member counts only as a suspicion here: this node has not seen the death itself,
    /// and the member deserves the chance to refute.
    mutating func merge(_ pp: PushPull, from: Address, budget: inout Int, replayEvents: Bool, forwardRows: Bool = true) {
        guard Limits.isValidName(pp.sender) else { return refuse(.invalidName, from: from) }
        exchangeBudget = budget
        defer {
            budget = exchangeBudget ?? budget
            exchangeBudget = nil
        }
        for s in pp.sections {
            switch s {
            case .members(let members): mergeMembers(members, sender: pp.sender, from: from)
            case .events(let e): merge(e, from: from, replay: replayEvents)
            case .stateRows(let rows): mergeRows(rows, from: from, forward: forwardRows)
            case .stateDigest: break
            case .unknown: break
            }
        }
    }

    /// The members section: each entry as if it had arrived as gossip.
    mutating func mergeMembers(_ members: [MemberState], sender: String, from: Address) {
        for m in members {
            if let reason = refusal(for: m) {
                refuse(reason, from: from)
                continue
            }
            switch m.status {
            case .alive:
                alive(Alive(m.identity), from: from)
            case .left:
                dead(Dead(incarnation: m.incarnation, name: m.name, from: m.name, left: true), local: false)
            case .suspect, .failed:
                suspect(Suspect(incarnation: m.incarnation, name: m.name, from: sender), local: false)
            }
        }
    }

    mutating func pushPullRound() {
        guard let i = table.randomMembers(1, excluding: name, rng: &rng, accept: { $0.status == .alive }).first else { return }
        outbox.append(.stream(to: table[i].address, localState(join: false, reply: false), conversation: newConversation()))
    }

    /// Serf's reconnect: with probability failed/alive (or `always`), try one random failed
    /// member. Without it a partition, once each side has declared the other dead, never heals.
    mutating func reconnectRound(always: Bool) {
        guard let i = table.randomFailed(always: always, rng: &rng) else { return }
        outbox.append(.stream(to: table[i].address, localState(join: false, reply: false), conversation: newConversation()))
    }
}
