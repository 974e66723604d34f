import GossipCore
import NIOCore

/// Port checks: beside every ping, an empty datagram from `PortCheckSocket` to the same
/// address. If nobody listens there (the member's process is gone, its host lives), the host
/// answers with ICMP port unreachable, read off the check socket's error queue shortly after;
/// a port unreachable sent by the destination host itself goes to the core as
/// `Input.unreachable`, which takes it only if a probe of its own to that member is open.
/// A live member's runtime drops the empty datagram unread.
extension NodeRuntime {
    /// When the error queue is read after a check: soon, for a host on the same link, and
    /// again halfway through the probe timeout, for one further away.
    var portCheckReads: [Duration] { [.milliseconds(10), settings.probeTimeout / 2] }

    func checkPort(of member: Address, at target: SocketAddress) {
        guard isActive else { return }
        if portCheck == nil, let bound = udpBound {
            do { portCheck = try PortCheckSocket(near: bound) } catch {
                logger.warning(
                    "cannot open the port-check socket; crashes are found by probe timeouts alone",
                    metadata: ["gossip.error": "\(error)"])
                portCheckDisabled = true
            }
        }
        guard let portCheck, !portCheckDisabled else { return }
        portCheck.send(to: target)
        for after in portCheckReads {
            _ = schedule(at: .now() + TimeAmount(after)) { $0.readPortChecks() }
        }
    }

    func readPortChecks() {
        guard isActive, let portCheck else { return }
        for e in portCheck.drain() {
            if e.isEvidence {
                transport.portUnreachable += 1
                logger.debug("port unreachable", metadata: ["gossip.peer.address": "\(e.destination)"])
                handle(.unreachable(e.destination))
            } else {
                transport.otherICMPErrors += 1
                logger.debug(
                    "ICMP error not taken as evidence",
                    metadata: [
                        "gossip.peer.address": "\(e.destination)",
                        "gossip.icmp.offender": "\(e.offender.map { "\($0)" } ?? "?")",
                    ])
            }
        }
    }
}
