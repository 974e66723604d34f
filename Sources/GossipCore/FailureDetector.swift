/// SWIM's failure detection state with the Lifeguard extensions: this node's probes in flight,
/// the indirect probes it runs for others, its local health, and its suspicions of others.
/// The router (`Probing.swift`) sends the messages and arms the timers this part asks for.
struct FailureDetector: Sendable {
    private var sequence: UInt32
    private var probes: [UInt32: PendingProbe] = [:]
    private var relays: [UInt32: Relay] = [:]
    private(set) var health: LocalHealth
    private var suspicions: [String: Suspicion] = [:]
    private var suspicionNames: [UInt64: String] = [:]

    init(firstSequence: UInt32, healthMaximum: Int) {
        sequence = firstSequence
        health = LocalHealth(maximum: healthMaximum)
    }

    mutating func nextSequence() -> UInt32 {
        sequence &+= 1
        return sequence
    }

    // MARK: probes

    /// Opens probe `seq` of `target` (its incarnation and address as probed).
    mutating func startProbe(_ seq: UInt32, target: Member) {
        probes[seq] = PendingProbe(target: target.name, incarnation: target.incarnation, address: target.address)
    }

    /// The open probe of this node whose target is `member`, with its sequence number; nil
    /// when no probe to it is open.
    func openProbe(to member: String) -> (sequence: UInt32, probe: PendingProbe)? {
        for (seq, p) in probes where p.target == member { return (seq, p) }
        return nil
    }

    /// This node's open probes (a few: one probe starts per period).
    var openProbes: Dictionary<UInt32, PendingProbe>.Values { probes.values }

    /// The probe's target is unreachable by the kernel's word (`GossipInstance.unreachable`):
    /// its end then says nothing about this node's own health, since the refusal came back.
    mutating func probeRefused(_ seq: UInt32) { probes[seq]?.refused = true }

    /// The target of a probe still waiting for a direct ack, or nil when it was answered or
    /// has gone indirect.
    func directProbeTarget(_ seq: UInt32) -> String? {
        guard let p = probes[seq], !p.indirect else { return nil }
        return p.target
    }

    /// The probe went to helpers, `expectedNacks` of whom owe a nack if the target stays silent.
    mutating func wentIndirect(_ seq: UInt32, expectedNacks: Int) {
        probes[seq]?.indirect = true
        probes[seq]?.expectedNacks = expectedNacks
    }

    mutating func nackReceived(_ seq: UInt32) { probes[seq]?.nacks += 1 }

    /// Ends a probe at its deadline; nil when it was answered.
    mutating func endProbe(_ seq: UInt32) -> PendingProbe? { probes.removeValue(forKey: seq) }

    // MARK: relays

    /// Indirect probes in flight for others. Honest load is about `indirectChecks` per member
    /// per protocol period, spread over the cluster; the bound only stops a flood.
    static let maxRelays = 256

    var canRelay: Bool { relays.count < Self.maxRelays }

    mutating func startRelay(_ seq: UInt32, _ r: Relay) { relays[seq] = r }

    mutating func endRelay(_ seq: UInt32) -> Relay? { relays.removeValue(forKey: seq) }

    // MARK: health

    /// Lifeguard's local health: every event that moves it is one case, with its delta below.
    mutating func record(_ event: HealthEvent) { health.apply(event.delta) }

    // MARK: refutations

    /// Accusers already sent this node's refutation at `toldIncarnation`.
    private var told: Set<String> = []
    private var toldIncarnation: UInt64 = 0
    /// Accusers told per incarnation: honest ones are the few members whose probes failed
    /// during a pause; the bound stops a flood of forged accusations from buying replies.
    static let maxTold = 64

    /// Whether `accuser` is still to be told of this node's refutation at `incarnation`; true
    /// once per accuser and incarnation (and counts it as told).
    mutating func shouldTellRefutation(to accuser: String, incarnation: UInt64) -> Bool {
        if incarnation != toldIncarnation {
            told.removeAll(keepingCapacity: true)
            toldIncarnation = incarnation
        }
        guard told.count < Self.maxTold else { return false }
        return told.insert(accuser).inserted
    }

    // MARK: suspicions

    var suspicionCount: Int { suspicions.count }

    func suspicion(of member: String) -> Suspicion? { suspicions[member] }

    /// Starts suspecting `member` (replacing any suspicion of it) and returns the deadline.
    mutating func startSuspicion(
        of member: String, incarnation: UInt64, accuser: String, token: UInt64, now: Instant, liveCount: Int,
        settings: Settings
    ) -> Instant {
        let minimum = max(
            settings.probeInterval * settings.suspicionFloorIntervals,
            Formulas.suspicionMinimum(
                multiplier: settings.suspicionMultiplier, members: liveCount, probeInterval: settings.probeInterval))
        let maximum = settings.lifeguard ? minimum * settings.suspicionMaxTimeoutMultiplier : minimum
        let expected =
            settings.lifeguard
            ? Formulas.expectedConfirmations(suspicionMultiplier: settings.suspicionMultiplier, members: liveCount) : 0
        clearSuspicion(of: member)
        let s = Suspicion(
            incarnation: incarnation, started: now, minimum: minimum, maximum: maximum, expected: expected,
            confirmers: [accuser], token: token)
        suspicions[member] = s
        suspicionNames[token] = member
        return s.deadline
    }

    /// Brings the suspicion's deadline forward to `deadline` under a new token, if that is
    /// earlier; returns the deadline to arm, or nil when it did not move.
    mutating func hastenSuspicion(of member: String, incarnation: UInt64, to deadline: Instant, token: UInt64) -> Instant? {
        guard var s = suspicions[member], s.incarnation == incarnation, deadline < s.deadline else { return nil }
        suspicionNames[s.token] = nil
        s.hastened = deadline
        s.token = token
        suspicions[member] = s
        suspicionNames[token] = member
        return s.deadline
    }

    /// Records an independent confirmation; true when it moved the deadline (the caller then
    /// calls `moveSuspicion` with a fresh token).
    mutating func confirmSuspicion(of member: String, incarnation: UInt64, by accuser: String) -> Bool {
        guard var s = suspicions[member], s.incarnation == incarnation, s.confirm(by: accuser) else { return false }
        suspicions[member] = s
        return true
    }

    /// Re-files the suspicion under a new token, so that the timer armed before is ignored;
    /// returns the new deadline.
    mutating func moveSuspicion(of member: String, token: UInt64) -> Instant? {
        guard var s = suspicions[member] else { return nil }
        suspicionNames[s.token] = nil
        s.token = token
        suspicions[member] = s
        suspicionNames[token] = member
        return s.deadline
    }

    /// The member whose suspicion timer this was, its suspicion forgotten; nil for a stale timer.
    mutating func expireSuspicion(token: UInt64) -> String? {
        guard let member = suspicionNames.removeValue(forKey: token) else { return nil }
        suspicions[member] = nil
        return member
    }

    private mutating func clearSuspicion(of member: String) {
        if let s = suspicions.removeValue(forKey: member) { suspicionNames[s.token] = nil }
    }

    /// The membership hook: a member no longer suspect, or forgotten, is no longer suspected.
    mutating func memberChanged(_ kind: MembershipEvent.Kind, _ member: String) {
        switch kind {
        case .recovered, .failed, .left, .reaped: clearSuspicion(of: member)
        case .joined, .updated, .suspected: break
        }
    }
}

/// One of this node's own probes, from ping until the end of the protocol period.
struct PendingProbe: Sendable {
    var target: String
    /// The target's incarnation and address when the probe was sent: its silence, or the
    /// kernel's refusal, is evidence against that life of the member at that address only. A
    /// member that restarted meanwhile (a higher incarnation) is not accused by it.
    var incarnation: UInt64
    var address: Address
    var indirect = false
    var expectedNacks = 0
    var nacks = 0
    /// The kernel reported the target's port closed while the probe was open.
    var refused = false

    /// What the probe's end, unanswered, says about this node's own health: a helper that did
    /// not even send a nack points here rather than at the target. Nothing, when the target's
    /// port was reported closed (the refusal came back, so the path from here works).
    ///
    /// The silence of a target never heard from directly still counts: leaving it out (so that
    /// members invented by a forged push/pull cannot raise this node's health) took away
    /// Lifeguard's benefit around a slow node, whose probes fail before it has heard from most
    /// members (`ScenarioTests.lifeguardReducesFalsePositivesAroundASlowNode`).
    var missedEvent: HealthEvent? {
        guard !refused else { return nil }
        return expectedNacks > 0 ? .nacksMissing(max(0, expectedNacks - nacks)) : .probeFailed
    }

    /// Whether the probe's failure is evidence against `member` as it stands now: the same
    /// incarnation at the same address as probed.
    func accuses(_ member: Member) -> Bool {
        member.incarnation == incarnation && member.address == address
    }
}

/// An indirect probe this node runs for another member.
struct Relay: Sendable {
    var requester: String
    var requesterAddress: Address
    var requesterSequence: UInt32
    var wantsNack: Bool
}

/// What moves Lifeguard's local health score (arXiv 1707.00788, section IV-A), with each delta
/// in one table.
enum HealthEvent: Hashable, Sendable {
    /// A timely direct ack: evidence that this node itself is healthy.
    case probeAcked
    /// A probe ended unanswered with no helper asked.
    case probeFailed
    /// A probe ended unanswered, and this many helpers did not even send a nack.
    case nacksMissing(Int)
    /// This node had to refute a suspicion about itself.
    case refuted

    var delta: Int {
        switch self {
        case .probeAcked: -1
        case .probeFailed: 1
        case .nacksMissing(let n): n
        case .refuted: 1
        }
    }
}
