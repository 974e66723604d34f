/// Start, tags and departure: the changes a node makes to itself.
extension GossipInstance {
    mutating func start() {
        guard !started else { return }
        started = true
        let now = self.now
        // Unchanged in a formed cluster started at zero: no write, so its shared table stays shared.
        if table[selfIndex].statusChangedAt != now { table.update(selfIndex) { $0.statusChangedAt = now } }
        memberChanged(.joined, table[selfIndex])
        // Random phases keep a cluster started at one instant from probing in lockstep.
        armReplacing(.failureDetector(.probe), at: now + settings.probeInterval.scaled(by: rng.unit()))
        armReplacing(.dissemination(.gossip), at: now + settings.gossipInterval.scaled(by: rng.unit()))
        armReplacing(.antiEntropy(.pushPull), at: now + settings.pushPullInterval.scaled(by: rng.unit()))
        armReplacing(.antiEntropy(.reconnect), at: now + settings.reconnectInterval.scaled(by: rng.unit()))
        armReplacing(.state(.collect), at: now + stateCollectInterval)
        if settings.stateRestoreGrace > .zero { state.restoreUntil = now + settings.stateRestoreGrace }
        resumeOnStart()
    }

    mutating func setTags(_ newTags: Tags) {
        guard !departure.isLeaving else { return }
        do throws(RequestError) { try settings.check(tags: newTags) } catch { return refuse(.setTags, error) }
        tags = newTags
        incarnation = Self.incarnation(above: incarnation)
        let incarnation = self.incarnation
        table.update(selfIndex) { m in
            m.tags = newTags
            m.incarnation = incarnation
        }
        memberChanged(.updated, table[selfIndex])
        broadcastSelfAlive()
    }

    mutating func leave() {
        guard !departure.isLeaving else { return }
        incarnation = Self.incarnation(above: incarnation)
        let incarnation = self.incarnation
        let now = self.now
        table.update(selfIndex) { m in
            m.incarnation = incarnation
            m.status = .left
            m.statusChangedAt = now
        }
        let notice = Message.dead(Dead(incarnation: incarnation, name: name, from: name, left: true))
        dissemination.enqueue(notice, key: .member(name), sendNow: true)
        departure.begin(notice: notice)
        memberChanged(.left, table[selfIndex])
        armReplacing(.leave(.deadline), at: now + settings.leavePropagationTimeout)
        if table.liveCount == 0 { finishLeave() }
    }

    mutating func finishLeave() {
        if departure.finish() { outbox.append(.leaveCompleted) }
    }
}
