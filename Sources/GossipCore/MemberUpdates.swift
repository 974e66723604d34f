/// The membership lattice: how alive, suspect and dead/left updates change one member's entry.
/// A higher incarnation beats any lower one; within one incarnation alive < suspect < dead < left.
/// Only the member itself raises its incarnation, which is how it refutes.
///
/// Every update reaching these functions from outside has passed `Admission` (names,
/// incarnations, addresses), so the arithmetic here cannot overflow. Every transition they make
/// is reported through `memberChanged`.
extension GossipInstance {
    mutating func alive(_ a: Alive, from sender: Address) {
        if a.name == name {
            if departure.isLeaving { return }
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
        guard let i = table.position(of: a.identity) else {
            guard makeRoom(from: sender) else { return }
            let position = table.insert(
                Member(a.identity, status: .alive, statusChangedAt: now),
                rng: &rng)
            memberChanged(.joined, table[position])
            broadcast(.alive(a), about: a.name)
            return
        }
        // A name keeps its address while alive: a second process claiming it elsewhere is a
        // conflict, whatever incarnation it claims (a newcomer starts at 0). Once the old
        // incarnation is dead or gone, the name may come back anywhere.
        // Only the identity is read on the way to the common case (one array of the table).
        let held = table.identity(at: i)
        if held.address != a.address, table.status(at: i) <= .suspect {
            contest(table[i])
            return conflict(
                NameConflict(name: a.name, known: held.address, claimed: a.address, isSelf: false), from: sender)
        }
        // The common case in a large cluster: news we already have. Leave before copying anything.
        if a.incarnation <= held.incarnation { return }
        let old = table[i]
        let now = self.now
        // Only a member gone dead or left can move: it is not live, so it must be heard at the
        // new address before it counts as confirmed (`MemberTable.update`).
        table.update(i) { m in
            m.identity = a.identity
            if old.status != .alive {
                m.status = .alive
                m.statusChangedAt = now
            }
        }
        if old.status > .suspect {
            memberChanged(.joined, table[i])
        } else if old.status == .suspect {
            memberChanged(.recovered, table[i])
        } else if old.tags != a.tags {
            memberChanged(.updated, table[i])
        }
        broadcast(.alive(a), about: a.name)
    }

    mutating func suspect(_ s: Suspect, local: Bool, from sender: Address? = nil) {
        if s.name == name {
            if departure.isLeaving { return }
            if s.incarnation >= incarnation {
                refute(above: s.incarnation)
                // The accuser may hold a suspicion hastened to one probe timeout
                // (`unreachable`): it hears the refutation directly, not by gossip.
                if let sender, sender != address {
                    reply([.alive(selfAlive)], to: sender, member: s.from)
                }
            }
            tellRefutation(to: s.from, except: sender)
            return
        }
        guard let i = table.position(of: s.name) else { return }
        if table[i].status == .left {
            if s.incarnation <= table[i].incarnation { retellDeparture(i, to: sender, accuser: s.from) }
            return
        }
        guard s.incarnation >= table[i].incarnation else { return }
        let m = table[i]
        if m.status == .suspect, detector.suspicion(of: s.name) != nil {
            if detector.confirmSuspicion(of: s.name, incarnation: s.incarnation, by: s.from) {
                // The deadline moved: a new timer under a new token; the old one is ignored.
                let token = newToken()
                if let deadline = detector.moveSuspicion(of: s.name, token: token) {
                    armAdditional(.failureDetector(.suspicion), token: token, at: deadline)
                }
                broadcast(.suspect(s), about: s.name)
            }
            return
        }
        guard m.status == .alive || m.status == .suspect else { return }
        let now = self.now
        table.update(i) { m in
            m.incarnation = s.incarnation
            m.status = .suspect
            m.statusChangedAt = now
        }
        let token = newToken()
        let deadline = detector.startSuspicion(
            of: s.name, incarnation: s.incarnation, accuser: s.from, token: token, now: now, liveCount: table.liveCount,
            settings: settings)
        armAdditional(.failureDetector(.suspicion), token: token, at: deadline)
        if local {
            counters.suspicionsRaised += 1
            broadcastLocal(.suspect(s), about: s.name)
        } else {
            broadcast(.suspect(s), about: s.name)
        }
        memberChanged(.suspected, table[i])
    }

    mutating func dead(_ d: Dead, local: Bool, from sender: Address? = nil) {
        if d.name == name {
            if !departure.isLeaving, d.incarnation >= incarnation { refute(above: d.incarnation) }
            return
        }
        guard let i = table.position(of: d.name) else { return }
        let old = table[i]
        if old.status == .left, d.incarnation <= old.incarnation {
            if !d.left { retellDeparture(i, to: sender, accuser: d.from) }
            return
        }
        guard d.incarnation >= old.incarnation else { return }
        let status: MemberStatus = d.left ? .left : .failed
        let now = self.now
        if old.status > .suspect {
            // Already gone. A later notice still raises the incarnation remembered, or an older
            // alive still in flight would bring the member back; and a departure replaces a failure.
            let newer = d.incarnation > old.incarnation
            guard newer || (d.left && old.status == .failed) else { return }
            table.update(i) { m in
                m.incarnation = d.incarnation
                if status != old.status {
                    m.status = status
                    m.statusChangedAt = now
                }
            }
            if status != old.status { memberChanged(d.left ? .left : .failed, table[i]) }
            broadcast(.dead(d), about: d.name)
            return
        }
        table.update(i) { m in
            m.incarnation = d.incarnation
            m.status = status
            m.statusChangedAt = now
        }
        if local { broadcastLocal(.dead(d), about: d.name) } else { broadcast(.dead(d), about: d.name) }
        memberChanged(d.left ? .left : .failed, table[i])
    }

    /// Someone still accuses a member that left, so the departure missed at least them: tell
    /// the sender directly, or it would end up reporting a graceful leave as a failure. One
    /// reply per stale datagram, and the reply itself contradicts nothing, so this cannot storm.
    mutating func retellDeparture(_ i: Int, to sender: Address?, accuser: String) {
        guard let sender, sender != address else { return }
        let m = table[i]
        reply([.dead(Dead(incarnation: m.incarnation, name: m.name, from: m.name, left: true))], to: sender, member: accuser)
    }

    /// Denies a suspicion or death notice about this node by outliving it. Admission keeps
    /// accusations below `Limits.maxIncarnation`, so one more always fits.
    mutating func refute(above accused: UInt64) {
        incarnation = Self.incarnation(above: max(incarnation, accused))
        let incarnation = self.incarnation
        table.update(selfIndex) { $0.incarnation = incarnation }
        counters.refutations += 1
        // Lifeguard: being suspected is evidence that this node is the slow one.
        if settings.lifeguard { detector.record(.refuted) }
        broadcastSelfAlive()
    }

    /// Sends this node's current alive straight to `accuser`, a member whose suspicion of this
    /// node reached it (its own or a confirmation), once per accuser and incarnation. The
    /// accuser and its confirmers started their suspicion timers first, so they are the first
    /// to declare this node failed; after a pause their accusations wait in this node's backlog
    /// and gossip alone could reach them too late (Docs/benchmarks/DETECTION.md, "Pause").
    /// Only members known live, at the address known: a forged accusation cannot aim this at a
    /// third party.
    mutating func tellRefutation(to accuser: String, except sender: Address?) {
        guard accuser != name, let i = table.position(of: accuser), table[i].status <= .suspect else { return }
        let to = table[i].address
        guard to != sender, detector.shouldTellRefutation(to: accuser, incarnation: incarnation) else { return }
        send([.alive(selfAlive)], to: to)
    }

    /// One more than `x`, held at `Limits.maxIncarnation`.
    static func incarnation(above x: UInt64) -> UInt64 {
        x < Limits.maxIncarnation ? x + 1 : Limits.maxIncarnation
    }

    /// A live claim on `member`'s name from another address is either a second process (a
    /// misconfiguration) or the member itself, restarted elsewhere (a new DHCP lease, a
    /// renumbered host, a restart on another port) while its old entry still looks alive. The
    /// member at the known address is asked at once (`accuseAtOnce`): a live one refutes within
    /// a probe timeout and the claim stays a conflict; a gone one is declared failed, and the
    /// name may then come back at the new address (`alive`), so a restart elsewhere is taken
    /// within about one probe timeout instead of a full suspicion timeout. At most once per
    /// name per `contestInterval`, so a second process that keeps claiming a live member's
    /// name cannot make it refute without end.
    mutating func contest(_ member: Member) {
        if let last = contested[member.name], now < last + Self.contestInterval(settings) { return }
        if contested.count >= 256 { contested.removeAll(keepingCapacity: true) }
        contested[member.name] = now
        counters.contests += 1
        accuseAtOnce(member)
    }

    /// Ten probe intervals: a duplicate name costs its live holder one refutation per ten
    /// protocol periods at most.
    static func contestInterval(_ settings: Settings) -> Duration { settings.probeInterval * 10 }

    /// Counts and reports a second live claim on a name, once per claimed address.
    mutating func conflict(_ c: NameConflict, from sender: Address) {
        refuse(.nameConflict, from: sender)
        if reportedConflicts.count >= 256 { reportedConflicts.removeAll(keepingCapacity: true) }
        if reportedConflicts.insert(c).inserted { outbox.append(.nameConflict(c)) }
    }

    mutating func suspicionExpired(_ token: UInt64) {
        guard let member = detector.expireSuspicion(token: token), let i = table.position(of: member) else { return }
        guard table[i].status == .suspect else { return }
        dead(Dead(incarnation: table[i].incarnation, name: member, from: name, left: false), local: true)
    }
}
