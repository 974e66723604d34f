/// Where values from outside enter the core: every datagram message and every push/pull entry
/// is checked here before any state changes, and what breaks a rule is refused and counted
/// (`Refusal`), never trapped on. The rules are in `Limits` and `Address.canReach`.
extension GossipInstance {
    /// Why a datagram message must be refused, or nil if it may be handled.
    func refusal(for m: Message) -> Refusal? {
        switch m {
        case .ping(let p):
            return names(p.target, p.source)
        case .indirectPing(let p):
            return names(p.target, p.requester)
        case .ack, .nack:
            return nil
        case .alive(let a):
            return refusal(name: a.name, incarnation: a.incarnation, address: a.address, tags: a.tags, status: .alive)
        case .suspect(let s):
            return names(s.name, s.from) ?? refusal(incarnation: s.incarnation, of: s.name, status: .suspect)
        case .dead(let d):
            return names(d.name, d.from) ?? refusal(incarnation: d.incarnation, of: d.name, status: d.left ? .left : .failed)
        case .userEvent(let e):
            return names(e.origin, e.name) ?? stamped(e.time, payload: e.payload)
        case .query(let q):
            if q.filters.count > Limits.maxQueryFilters { return .tooLarge }
            for case .nodes(let n) in q.filters where n.count > Limits.maxFilterNodes || !n.allSatisfy(Limits.isValidName) {
                return .invalidName
            }
            return names(q.origin, q.name) ?? stamped(q.time, payload: q.payload)
        case .queryResponse(let r):
            return names(r.origin, r.from) ?? stamped(r.time, payload: r.payload)
        case .relay(let r):
            return names(r.response.origin, r.response.from) ?? stamped(r.response.time, payload: r.response.payload)
        case .stateRow(let r):
            return refusal(for: r)
        case .stateNewest(let n):
            if !Limits.isValidName(n.owner) { return .invalidName }
            return n.version == 0 || n.version >= Limits.maxIncarnation ? .incarnationOutOfRange : nil
        }
    }

    /// A row's names, key and value size, and its version: 1 up to but not including
    /// `Limits.maxIncarnation` (versions share the incarnation ceiling, so that a resumed owner
    /// always has a version above any accepted one).
    func refusal(for r: StateRow) -> Refusal? {
        if let n = names(r.table, r.owner) { return n }
        if !Limits.isValidStateKey(r.key) { return .invalidName }
        if r.version == 0 || r.version >= Limits.maxIncarnation { return .incarnationOutOfRange }
        return r.value.count > Limits.maxPayloadSize || (r.deleted && !r.value.isEmpty) ? .tooLarge : nil
    }

    /// The decoder's bounds on Lamport times and payloads, held again where messages enter the
    /// core, so that a shell without that decoder cannot hand in what no arithmetic expects.
    func stamped(_ time: UInt64, payload: [UInt8]) -> Refusal? {
        if !LamportClock.admits(time) { return .lamportTimeOutOfRange }
        return payload.count > Limits.maxPayloadSize ? .tooLarge : nil
    }

    /// Why one member of a push/pull must be refused, or nil if it may be merged.
    func refusal(for m: MemberState) -> Refusal? {
        refusal(name: m.name, incarnation: m.incarnation, address: m.address, tags: m.tags, status: m.status)
    }

    func refusal(name: String, incarnation: UInt64, address peer: Address, tags: Tags, status: MemberStatus) -> Refusal? {
        if !Limits.isValidName(name) { return .invalidName }
        for (key, _) in tags where !Limits.isValidTagKey(key) { return .invalidName }
        if let r = refusal(incarnation: incarnation, of: name, status: status) { return r }
        // Only this node lives at its own address: another name there would have it probe itself.
        if name != self.name, peer == address || !address.canReach(peer) { return .unusableAddress }
        return nil
    }

    /// `Limits.maxIncarnation`: an alive or a departure is taken up to it, an accusation only
    /// below it (so that its target can outlive it), a claim about this node only below it.
    func refusal(incarnation: UInt64, of member: String, status: MemberStatus) -> Refusal? {
        let ceiling = status == .suspect || status == .failed || member == name ? Limits.maxIncarnation - 1 : Limits.maxIncarnation
        return incarnation > ceiling ? .incarnationOutOfRange : nil
    }

    func names(_ a: String, _ b: String) -> Refusal? {
        Limits.isValidName(a) && Limits.isValidName(b) ? nil : .invalidName
    }

    /// Counts a refusal, and reports its reason once per input.
    mutating func refuse(_ reason: Refusal, from sender: Address) {
        counters.refusals[reason] += 1
        let bit: UInt32 = 1 << reason.rawValue
        if refusedThisInput & bit == 0 {
            refusedThisInput |= bit
            outbox.append(.refused(reason, from: sender))
        }
    }

    /// Makes room in the table for one more member: free below `maxMembers`; at the bound the
    /// member failed or departed longest ago is forgotten; with every entry live the newcomer is
    /// refused, in constant time, so a flood of invented members costs little to turn away.
    mutating func makeRoom(from sender: Address) -> Bool {
        if let budget = exchangeBudget {
            if budget == 0 {
                refuse(.exchangeLimit, from: sender)
                return false
            }
            exchangeBudget = budget - 1
        }
        if table.count < settings.maxMembers { return true }
        guard let oldest = table.longestGone(excluding: name) else {
            refuse(.tableFull, from: sender)
            return false
        }
        reap(at: oldest)
        return true
    }

    /// Whether `sender` is the address of the live member `member`, the only kind of peer a
    /// reply may carry gossip to.
    func isLiveMember(_ member: String, at sender: Address) -> Bool {
        guard let i = table.position(of: member) else { return false }
        return table[i].address == sender && table[i].status <= .suspect
    }

    /// Answers the datagram source. To a live member the answer carries gossip like any
    /// datagram; to anyone else it is the bare answer, smaller than the request that bought it,
    /// so a forged source cannot turn a node into an amplifier or leak the membership.
    mutating func reply(_ messages: [Message], to sender: Address, member: String) {
        guard address.canReach(sender) else { return refuse(.unusableAddress, from: sender) }
        if isLiveMember(member, at: sender) { return send(messages, to: sender) }
        counters.messagesOut += messages.count
        outbox.append(.datagram(to: sender, messages: messages))
    }
}
