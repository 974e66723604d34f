/// Evidence that a member's process is gone while its host lives: the host's kernel answered
/// one of this node's probes with ICMP port unreachable (the runtime reads it off the UDP
/// socket's error queue). A paused or overloaded process never causes one, since its socket
/// stays open, so the evidence separates a crash from a pause.
///
/// The evidence is unauthenticated (anyone on the path can forge an ICMP error), so it is
/// never a verdict. It only hastens a suspicion: the member is suspected at once, is told so
/// directly (a live member refutes in the time it would have answered the ping), and is
/// declared failed after one probe timeout instead of the full suspicion timeout unless it
/// refutes. Docs/ARCHITECTURE.md, "Failure detection", says what a forger can and cannot do.
extension GossipInstance {
    /// `destination`: where the refused datagram was sent, as the kernel quotes it. It counts
    /// only if a probe of this node to a live or suspect member at exactly that address is
    /// open, the member is still the life probed (a member that restarted since is not
    /// accused by a refusal of the datagram sent before), and only once per probe; anything
    /// else is counted in `unreachableIgnored`.
    mutating func unreachable(_ destination: Address) {
        guard let target = probedMember(at: destination), let open = detector.openProbe(to: target.name),
            !open.probe.refused, open.probe.accuses(target)
        else {
            counters.unreachableIgnored += 1
            return
        }
        counters.unreachableEvidence += 1
        detector.probeRefused(open.sequence)
        // Its port is closed if the evidence is true, so the direct accusation draws one more
        // refusal: the probe is marked, so that one is ignored.
        accuseAtOnce(target)
    }

    /// Suspects `target` (live or suspect) now, tells it so directly, and brings the
    /// suspicion's deadline forward to one probe timeout: a live member refutes in the time it
    /// would have answered a ping, since it hears the accusation itself rather than by gossip.
    /// For evidence that its process is gone, never a verdict by itself.
    mutating func accuseAtOnce(_ target: Member) {
        let accusation = Suspect(incarnation: target.incarnation, name: target.name, from: name)
        if target.status == .alive { suspect(accusation, local: true) }
        // The window is the probe timeout, health-scaled as the probe's own.
        let window = settings.lifeguard ? detector.health.scale(settings.probeTimeout) : settings.probeTimeout
        let token = newToken()
        if let deadline = detector.hastenSuspicion(
            of: target.name, incarnation: target.incarnation, to: now + window, token: token)
        {
            armAdditional(.failureDetector(.suspicion), token: token, at: deadline)
        }
        send([.suspect(accusation)], to: target.address)
    }

    /// Marks `member` heard directly, as its answer to a probe would: for tests that start
    /// from members known to be real.
    package mutating func markHeardDirectly(_ member: String) {
        if let i = table.position(of: member) { table.confirm(i) }
    }

    /// The live or suspect member with an open probe of this node sent to `a`.
    private func probedMember(at a: Address) -> Member? {
        for p in detector.openProbes where p.address == a {
            if let m = table.member(named: p.target), m.status <= .suspect { return m }
        }
        return nil
    }
}
