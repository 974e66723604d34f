import GossipCore
import Logging
import NIOCore

/// The only caller of `GossipInstance.handle`. Inputs that arrive while one is being handled (a
/// connect that fails at once, a callback) wait in a queue, so the core never sees a nested
/// call; each output goes to the part of the runtime that carries it out.
extension NodeRuntime {
    func handle(_ input: Input) {
        queued.append(input)
        guard !handling else { return }
        handling = true
        while !queued.isEmpty, isActive {
            let next = queued.removeFirst()
            process(next)
        }
        queued.removeAll(keepingCapacity: true)
        handling = false
        flushDatagrams()
        finishBatch()
    }

    private func process(_ input: Input) {
        guard let outputs = core?.handle(input, now: now) else { return }
        for output in outputs {
            switch output {
            case .datagram(let to, let messages): sendDatagram(messages, to: to)
            case .stream(let to, let message, let c): sendStream(message, to: to, conversation: c)
            case .reply(let c, let message): sendReply(message, conversation: c)
            case .timer(let id, let at): arm(id, at: at)
            case .event(let event): newEvents.append(event)
            case .joinCompleted(let outcome): joinOutcomes.append(outcome)
            case .leaveCompleted: leaveFinished = true
            case .refused(let reason, let from): refused(reason, from: from)
            case .nameConflict(let conflict): nameConflict(conflict)
            case .userEvent, .eventFired, .query, .queryAck, .queryResponse, .queryFinished, .requestRefused, .rowChanged:
                application(output)
            }
        }
        if case .timer(let id) = input, id.kind == .failureDetector(.probe) { periodicChecks() }
    }

    /// Runs after the core is done with a batch, so that callbacks and subscribers can call
    /// back in without nesting.
    private func finishBatch() {
        publishApplication()
        if !newEvents.isEmpty, let core {
            for e in newEvents { log(e) }
            let members = core.knownMembers
            view.publish(newEvents, members: members)
            metrics.members(members)
            newEvents.removeAll(keepingCapacity: true)
            snapshotChanged()
        }
        if !joinOutcomes.isEmpty {
            let outcomes = joinOutcomes
            joinOutcomes.removeAll()
            for outcome in outcomes { joinCompleted(outcome) }
        }
        if leaveFinished {
            leaveFinished = false
            leftGracefully = true
            logger.info("left the cluster")
            stop()
        }
    }

    private func arm(_ id: TimerID, at: Instant) {
        schedule(at: .uptimeNanoseconds(UInt64(clamping: at.nanoseconds))) { $0.handle(.timer(id)) }
    }

    /// Once per protocol period: metrics, the UDP reachability check, and the summaries of
    /// problems logged rate-limited.
    private func periodicChecks() {
        guard let core else { return }
        metrics.flush(core, wire: wireCounters, stateRowsHeld: app.rowsHeld)
        metrics.streams(inbound: streamBudget.inbound, buffered: streamBudget.buffered)
        if case .blocked(let probes, let streams) = udpSilence.probesSent(total: core.counters.probes) {
            metrics.udpSuspectedBlocked(true)
            logger.warning(
                "no UDP ack has arrived in the last \(probes) probes, yet \(streams) TCP messages did: UDP port \(core.address.port) is probably blocked between this node and the cluster, and members will declare it failed",
                metadata: ["gossip.probes": "\(probes)", "gossip.udp.port": "\(core.address.port)"])
        }
        logSummaries()
    }
}
