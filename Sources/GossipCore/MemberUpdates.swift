/// The membership lattice: how alive, suspect and dead/left updates change one member's entry.
/// A higher incarnation beats any lower one; within one incarnation alive < suspect < dead < left.
/// Only the member itself raises its incarnation, which is how it refutes.
///
/// Every update reaching these functions from outside has passed `Admission` (names,
/// incarnations, addresses), so the arithmetic here cannot overflow.
extension GossipInstance {
    mutating func alive(_ a: Alive, _ now: Instant, from sender: Address) {
        if a.name == name {
            if isLeaving { return }
            // Another process claims this node's name: report it, never outbid it. Refuting
            // would make both raise their incarnations against each other without end.
            if a.address != address {
                return conflict(NameConflict(name: name, known: address, claimed: a.address, isSelf: true), from: sender)
            }
            // Someone speaks for us: correct them only if they claim something newer or different.
            if a.incarnation > incarnation || (a.incarnation == incarnation && a.tags != tags) {
                refute(above: a.incarnation)
            }
            return
        }
        guard let i = index[a.name] else {
            guard makeRoom(from: sender) else { return }
            let position = insert(
                Member(name: a.name, address: a.address, incarnation: a.incarnation, status: .alive, tags: a.tags, statusChangedAt: now))
            emit(.joined, members[position])
            broadcast(.alive(a), about: a.name)
            return
        }
        // A name keeps its address while alive: a second process claiming it elsewhere is a
        // conflict, whatever incarnation it claims (a newcomer starts at 0). Once the old
        // incarnation is dead or gone, the name may come back anywhere.
        if members[i].address != a.address, members[i].status <= .suspect {
            return conflict(
                NameConflict(name: a.name, known: members[i].address, claimed: a.address, isSelf: false), from: sender)
        }
        // The common case in a large cluster: news we already have. Leave before copying anything.
        if a.incarnation <= members[i].incarnation { return }
        let old = members[i]
        members[i].incarnation = a.incarnation
        if a.address != old.address {
            // Only a member gone dead or left gets here: it is not live, so no count moves.
            members[i].address = a.address
            confirmed[i] = false
        }
        members[i].tags = a.tags
        if old.status != .alive {
            members[i].status = .alive
            members[i].statusChangedAt = now
        }
        clearSuspicion(a.name)
        if old.status > .suspect {
            liveChanged(i, live: true)
            emit(.joined, members[i])
        } else if old.status == .suspect {
            emit(.recovered, members[i])
        } else if old.tags != a.tags {
            emit(.updated, members[i])
        }
        broadcast(.alive(a), about: a.name)
    }

    mutating func suspect(_ s: Suspect, _ now: Instant, local: Bool, from sender: Address? = nil) {
        if s.name == name {
            if !isLeaving, s.incarnation >= incarnation { refute(above: s.incarnation) }
            return
        }
        guard let i = index[s.name] else { return }
        if members[i].status == .left {
            if s.incarnation <= members[i].incarnation { retellDeparture(i, to: sender, accuser: s.from) }
            return
        }
        guard s.incarnation >= members[i].incarnation else { return }
        let m = members[i]
        if m.status == .suspect, var current = suspicions[s.name] {
            if s.incarnation == current.incarnation, current.confirm(by: s.from) {
                suspicions[s.name] = current
                reArm(current)
                broadcast(.suspect(s), about: s.name)
            }
            return
        }
        guard m.status == .alive || m.status == .suspect else { return }
        members[i].incarnation = s.incarnation
        members[i].status = .suspect
        members[i].statusChangedAt = now
        startSuspicion(of: s.name, incarnation: s.incarnation, accuser: s.from, now)
        if local {
            counters.suspicionsRaised += 1
            broadcastLocal(.suspect(s), about: s.name)
        } else {
            broadcast(.suspect(s), about: s.name)
        }
        emit(.suspected, members[i])
    }

    mutating func dead(_ d: Dead, _ now: Instant, local: Bool, from sender: Address? = nil) {
        if d.name == name {
            if !isLeaving, d.incarnation >= incarnation { refute(above: d.incarnation) }
            return
        }
        guard let i = index[d.name] else { return }
        let old = members[i]
        if old.status == .left, d.incarnation <= old.incarnation {
            if !d.left { retellDeparture(i, to: sender, accuser: d.from) }
            return
        }
        guard d.incarnation >= old.incarnation else { return }
        let status: MemberStatus = d.left ? .left : .failed
        if old.status > .suspect {
            // Already gone. A later notice still raises the incarnation remembered, or an older
            // alive still in flight would bring the member back; and a departure replaces a failure.
            let newer = d.incarnation > old.incarnation
            guard newer || (d.left && old.status == .failed) else { return }
            members[i].incarnation = d.incarnation
            if status != old.status {
                members[i].status = status
                members[i].statusChangedAt = now
                emit(d.left ? .left : .failed, members[i])
            }
            broadcast(.dead(d), about: d.name)
            return
        }
        members[i].incarnation = d.incarnation
        members[i].status = status
        members[i].statusChangedAt = now
        clearSuspicion(d.name)
        liveChanged(i, live: false)
        if local { broadcastLocal(.dead(d), about: d.name) } else { broadcast(.dead(d), about: d.name) }
        emit(d.left ? .left : .failed, members[i])
    }

    /// Someone still accuses a member that left, so the departure missed at least them: tell
    /// the sender directly, or it would end up reporting a graceful leave as a failure. One
    /// reply per stale datagram, and the reply itself contradicts nothing, so this cannot storm.
    mutating func retellDeparture(_ i: Int, to sender: Address?, accuser: String) {
        guard let sender, sender != address else { return }
        let m = members[i]
        var messages = takeScratch()
        messages.append(.dead(Dead(incarnation: m.incarnation, name: m.name, from: m.name, left: true)))
        reply(messages, to: sender, member: accuser)
    }

    /// Denies a suspicion or death notice about this node by outliving it. Admission keeps
    /// accusations below `Limits.maxIncarnation`, so one more always fits.
    mutating func refute(above accused: UInt64) {
        incarnation = Self.incarnation(above: max(incarnation, accused))
        let i = selfIndex
        members[i].incarnation = incarnation
        counters.refutations += 1
        // Lifeguard: being suspected is evidence that this node is the slow one.
        if settings.lifeguard { health.apply(1) }
        broadcastSelfAlive()
    }

    /// One more than `x`, held at `Limits.maxIncarnation`.
    static func incarnation(above x: UInt64) -> UInt64 {
        x < Limits.maxIncarnation ? x + 1 : Limits.maxIncarnation
    }

    /// Counts and reports a second live claim on a name, once per claimed address.
    mutating func conflict(_ c: NameConflict, from sender: Address) {
        refuse(.nameConflict, from: sender)
        if reportedConflicts.count >= 256 { reportedConflicts.removeAll(keepingCapacity: true) }
        if reportedConflicts.insert(c).inserted { outbox.append(.nameConflict(c)) }
    }

    // MARK: suspicion timers

    mutating func startSuspicion(of member: String, incarnation: UInt64, accuser: String, _ now: Instant) {
        let minimum = Formulas.suspicionMinimum(
            multiplier: settings.suspicionMultiplier, members: liveCount, probeInterval: settings.probeInterval)
        let maximum = settings.lifeguard ? minimum * settings.suspicionMaxTimeoutMultiplier : minimum
        let expected =
            settings.lifeguard
            ? Formulas.expectedConfirmations(suspicionMultiplier: settings.suspicionMultiplier, members: liveCount) : 0
        clearSuspicion(member)
        let s = Suspicion(
            incarnation: incarnation, started: now, minimum: minimum, maximum: maximum, expected: expected,
            confirmers: [accuser], token: newToken())
        suspicions[member] = s
        suspicionNames[s.token] = member
        armOnce(.suspicion, token: s.token, at: s.deadline)
    }

    /// A confirmation moved the deadline: arm a new timer under a new token; the old one is ignored.
    mutating func reArm(_ s: Suspicion) {
        guard let member = suspicionNames.removeValue(forKey: s.token) else { return }
        var moved = s
        moved.token = newToken()
        suspicions[member] = moved
        suspicionNames[moved.token] = member
        armOnce(.suspicion, token: moved.token, at: moved.deadline)
    }

    mutating func clearSuspicion(_ member: String) {
        if let s = suspicions.removeValue(forKey: member) { suspicionNames[s.token] = nil }
    }

    mutating func suspicionExpired(_ token: UInt64, _ now: Instant) {
        guard let member = suspicionNames.removeValue(forKey: token), let i = index[member] else { return }
        suspicions[member] = nil
        guard members[i].status == .suspect else { return }
        dead(Dead(incarnation: members[i].incarnation, name: member, from: name, left: false), now, local: true)
    }
}
