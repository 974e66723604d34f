/// User events through the router: fired here or received, deduplicated, delivered once,
/// pushed on at once to `Formulas.eagerFanout` members, then gossiped for the retransmits left.
extension GossipInstance {
    mutating func fireEvent(name: String, payload: [UInt8], coalesce: Bool) {
        do throws(RequestError) { try settings.check(userEvent: name, payload: payload) } catch {
            return refuse(.fireEvent, error)
        }
        guard let time = events.clock.stamp() else { return refuse(.fireEvent, .clockExhausted) }
        let e = UserEvent(time: time, origin: self.name, name: name, payload: payload, coalesce: coalesce)
        _ = events.seen.record(time: time, origin: e.origin)
        counters.userEventsFired += 1
        outbox.append(.eventFired(e))
        deliver(e)
        pushEagerly(.userEvent(e), key: .userEvent(time: time, origin: e.origin), except: nil)
    }

    /// A user event from the network (datagram or push/pull). Events from push/pull are not
    /// pushed on: the exchange is already the repair path.
    mutating func receive(_ e: UserEvent, from sender: Address, pushOn: Bool) {
        switch events.seen.record(time: e.time, origin: e.origin) {
        case .new: break
        case .duplicate: return counters.duplicates += 1
        case .tooOld, .slotFull: return counters.tooOld += 1
        }
        events.clock.witness(e.time)
        deliver(e)
        if pushOn { pushEagerly(.userEvent(e), key: .userEvent(time: e.time, origin: e.origin), except: sender) }
    }

    mutating func deliver(_ e: UserEvent) {
        events.remember(e)
        if e.coalesce, settings.userEventCoalescePeriod > .zero {
            if events.hold(e) { armReplacing(.userEvents(.coalesce), at: now + settings.userEventCoalescePeriod) }
            return
        }
        counters.userEventsDelivered += 1
        outbox.append(.userEvent(e))
    }

    mutating func coalesceWindowClosed() {
        for e in events.release() {
            counters.userEventsDelivered += 1
            outbox.append(.userEvent(e))
        }
    }

    /// Sends `message` at once to `Formulas.eagerFanout` live members other than `sender`: this
    /// node's successor on the ring of live members ordered by name, and random others; each
    /// datagram is topped up with queued updates. Then queues it for the gossip retransmits left:
    /// the retransmit limit less the pushes made, so a push cut short by `eagerBudget` leaves
    /// the update the gossip it would have had without eager pushes.
    ///
    /// Random pushes alone miss a member with probability about e^-f, and a miss waits for
    /// push/pull (30 s or more). The successor link closes that gap at no extra copy: every
    /// member that has the event hands it to the next one, so with views that agree and no loss
    /// the ring carries it to all, and the random pushes keep the hops few (about log_f N).
    mutating func pushEagerly(_ message: Message, key: BroadcastKey, except sender: Address?) {
        // A peer with larger limits may send what this node's datagrams cannot hold.
        guard message.encodedSize <= settings.payloadBudget else { return counters.oversizedNotSent += 1 }
        let fanout = min(
            eagerBudget,
            Formulas.eagerFanout(
                members: table.liveCount, extra: settings.eagerFanoutExtra,
                retransmitLimit: dissemination.retransmitLimit(liveCount: table.liveCount)))
        if fanout == 0 {
            counters.eagerPushesSkipped += 1
            dissemination.enqueue(message, key: key)
            return
        }
        if successor == nil { successor = .some(table.successor(of: name)) }
        var next: Int?
        if case .some(.some(let s)) = successor, let i = table.position(of: s), table[i].address != sender { next = i }
        let skip = next.map { table[$0].name }
        let random = table.randomMembers(fanout - (next == nil ? 0 : 1), excluding: name, rng: &rng) { m in
            m.status <= .suspect && m.address != sender && m.name != skip
        }
        if let next { send([message], to: table[next].address) }
        for t in random { send([message], to: table[t].address) }
        let sent = random.count + (next == nil ? 0 : 1)
        counters.eagerPushes += sent
        eagerBudget -= sent
        dissemination.enqueue(message, key: key, pushed: sent)
    }

    // MARK: push/pull

    /// This node's events section: both clocks and the recent events that fit a section.
    func eventsSection() -> EventsSection {
        events.section(queryClock: queries.clock.next, budget: PushPull.maxSectionSize - 32)
    }

    /// Merges a peer's events section. A node that joins takes the clocks but not the old
    /// events unless it asked to replay them (Serf's `-replay`): they are marked seen instead.
    mutating func merge(_ section: EventsSection, from sender: Address, replay: Bool) {
        if LamportClock.admits(section.eventClock) { events.clock.witness(section.eventClock &- 1) }
        if LamportClock.admits(section.queryClock) { queries.clock.witness(section.queryClock &- 1) }
        for e in section.events {
            guard LamportClock.admits(e.time), Limits.isValidName(e.origin), Limits.isValidName(e.name) else {
                refuse(.invalidName, from: sender)
                continue
            }
            if replay {
                receive(e, from: sender, pushOn: false)
            } else {
                _ = events.seen.record(time: e.time, origin: e.origin)
                events.clock.witness(e.time)
            }
        }
    }
}
