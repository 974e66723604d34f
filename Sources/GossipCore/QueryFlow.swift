/// Queries through the router (Serf's `serf query`): asked here, spread like user events
/// (eager push, then gossip), answered by every member the filters select straight to the
/// asker's known address (and through relays), collected until every selected member has
/// answered or the timeout passes.
extension GossipInstance {
    mutating func ask(_ request: QueryRequest, id: QueryID) {
        do throws(RequestError) { try settings.check(query: request) } catch { return refuse(.query(id), error) }
        if queries.asked.count >= queries.maxOpen { return refuse(.query(id), .tooManyOpenQueries(queries.asked.count)) }
        guard let time = queries.clock.stamp() else { return refuse(.query(id), .clockExhausted) }
        let timeout =
            request.timeout
            ?? Formulas.queryTimeout(
                gossipInterval: settings.gossipInterval, multiplier: settings.queryTimeoutMultiplier, members: table.liveCount)
        let q = QueryMessage(
            time: time, id: UInt32(truncatingIfNeeded: rng.next()), origin: name, originAddress: address,
            wantsAck: request.wantsAcks, relayFactor: UInt8(request.relayFactor),
            timeoutMilliseconds: UInt64(max(1, timeout.nanoseconds / 1_000_000)), filters: request.filters,
            name: request.name, payload: request.payload)
        var waiting = Set<String>()
        for m in table.members where m.status <= .suspect && q.selects(name: m.name, tags: m.tags) { waiting.insert(m.name) }
        let token = newToken()
        queries.asked[.init(time: time, id: q.id)] = Queries.Asked(id: id, message: q, waiting: waiting, token: token)
        counters.queriesAsked += 1
        armAdditional(.queries(.deadline), token: token, at: now + timeout)
        _ = queries.seen.record(time: time, origin: name)
        if q.selects(name: name, tags: tags) { offer(q) }
        pushEagerly(.query(q), key: .query(time: time, origin: name), except: nil)
        if waiting.isEmpty { finish(.init(time: time, id: q.id), .allResponded) }
    }

    /// A query from the network: deduplicated, pushed on, and offered to this node if selected.
    mutating func receive(_ q: QueryMessage, from sender: Address) {
        if q.timeoutMilliseconds == 0 || q.timeoutMilliseconds > UInt64(settings.maxQueryTimeout.nanoseconds / 1_000_000)
            || Int(q.relayFactor) > QueryRequest.maxRelayFactor
        {
            return refuse(.queryOutOfRange, from: sender)
        }
        switch queries.seen.record(time: q.time, origin: q.origin) {
        case .new: break
        case .duplicate: return counters.duplicates += 1
        case .tooOld, .slotFull: return counters.tooOld += 1
        }
        queries.clock.witness(q.time)
        pushEagerly(.query(q), key: .query(time: q.time, origin: q.origin), except: sender)
        if q.selects(name: name, tags: tags) { offer(q) }
    }

    /// Delivers a query that selects this node, and acks it if asked.
    mutating func offer(_ q: QueryMessage) {
        guard q.origin == name || isLiveMember(q.origin, at: q.originAddress) else {
            return refuse(.unknownQueryOrigin, from: q.originAddress)
        }
        queries.expire(now: now)
        if queries.answerable.count >= queries.maxOpen { return counters.queriesDropped += 1 }
        let responder = QueryResponder(time: q.time, id: q.id, origin: q.origin)
        let deadline = now + .milliseconds(Int64(q.timeoutMilliseconds))
        queries.answerable[responder] = Queries.Answerable(
            deadline: deadline, relayFactor: q.relayFactor, originAddress: q.originAddress)
        counters.queriesReceived += 1
        outbox.append(.query(IncomingQuery(responder: responder, name: q.name, payload: q.payload, deadline: deadline)))
        if q.wantsAck {
            answer(QueryResponse(time: q.time, id: q.id, origin: q.origin, from: name, isAck: true, payload: []),
                to: q.originAddress, relayFactor: q.relayFactor)
        }
    }

    mutating func respond(to responder: QueryResponder, payload: [UInt8]) {
        do throws(RequestError) { try settings.check(response: payload) } catch { return refuse(.respond(responder), error) }
        guard var a = queries.answerable[responder], !a.answered, a.deadline > now else {
            return refuse(.respond(responder), .notAnswerable(responder))
        }
        a.answered = true
        queries.answerable[responder] = a
        answer(QueryResponse(time: responder.time, id: responder.id, origin: responder.origin, from: name, isAck: false, payload: payload),
            to: a.originAddress, relayFactor: a.relayFactor)
    }

    /// Sends an ack or answer to the asker, and through `relayFactor` random live members.
    mutating func answer(_ r: QueryResponse, to origin: Address, relayFactor: UInt8) {
        if !r.isAck { counters.queryResponsesSent += 1 }
        if r.origin == name { return take(r) }
        send([.queryResponse(r)], to: origin)
        guard relayFactor > 0 else { return }
        let relays = table.randomMembers(Int(relayFactor), excluding: name, rng: &rng) { m in
            m.status <= .suspect && m.name != r.origin
        }
        for i in relays { send([.relay(QueryRelay(response: r))], to: table[i].address) }
    }

    /// A response arriving for this node (directly or relayed).
    mutating func receive(_ r: QueryResponse, from sender: Address) {
        guard r.origin == name else { return counters.queryResponsesIgnored += 1 }
        take(r)
    }

    /// A relay: forwarded to the asker at the address this node knows it by.
    mutating func receive(_ relay: QueryRelay, from sender: Address) {
        let r = relay.response
        if r.origin == name { return take(r) }
        guard let i = table.position(of: r.origin), table[i].status <= .suspect else {
            return refuse(.unknownQueryOrigin, from: sender)
        }
        counters.relaysForwarded += 1
        send([.queryResponse(r)], to: table[i].address)
    }

    /// An ack or answer to one of this node's queries: reported once per member and kind.
    mutating func take(_ r: QueryResponse) {
        let key = Queries.QueryKey(time: r.time, id: r.id)
        guard var q = queries.asked[key], Limits.isValidName(r.from) else { return counters.queryResponsesIgnored += 1 }
        if r.isAck {
            guard q.acked.insert(r.from).inserted else { return counters.queryResponsesIgnored += 1 }
            queries.asked[key] = q
            counters.queryResponsesReceived += 1
            return outbox.append(.queryAck(q.id, from: r.from))
        }
        guard r.payload.count <= settings.queryResponseSizeLimit, q.answered.insert(r.from).inserted else {
            return counters.queryResponsesIgnored += 1
        }
        q.waiting.remove(r.from)
        queries.asked[key] = q
        counters.queryResponsesReceived += 1
        outbox.append(.queryResponse(q.id, from: r.from, payload: r.payload))
        if q.waiting.isEmpty { finish(key, .allResponded) }
    }

    mutating func finish(_ key: Queries.QueryKey, _ end: QueryEnd) {
        guard let q = queries.asked.removeValue(forKey: key) else { return }
        outbox.append(.queryFinished(q.id, end))
    }

    mutating func queryDeadline(token: UInt64) {
        guard let key = queries.asked(token: token), let q = queries.asked[key] else { return }
        finish(key, .timeout(missing: q.waiting.count))
    }

    /// A selected member that fails or leaves will not answer: a query ends without it.
    mutating func forgetWaiting(_ member: String) {
        for (key, var q) in queries.asked where q.waiting.contains(member) {
            q.waiting.remove(member)
            queries.asked[key] = q
            if q.waiting.isEmpty { finish(key, .allResponded) }
        }
    }
}
