/// Reclaim of a host that is gone: who may, when, and what is taken (Docs/OVERLAY.md,
/// "Reclaim of a failed host").
extension AddressAllocator {
    /// Whether `h`, unreachable now, has been so for `reclaimAfter` or longer (a host never seen
    /// alive counts from this allocator's first input). False while nothing has told the time.
    func goneForTheWholePeriod(_ h: String, now: UInt64) -> Bool {
        guard !alive.contains(h), let since = lastSeen[h] ?? startedAt else { return false }
        return now >= since && now - since >= reclaimAfter
    }

    func reclaimRefusal(_ target: String, now: UInt64, byOperator: Bool) -> AllocationRefusal? {
        guard !row.left else { return .alreadyLeft }
        if let by = reclaimedBy[host] { return .identityReclaimed(by: by) }
        guard target != host else { return .notReclaimer(host: target, reclaimer: nil) }
        // Already reclaimed, or left (what is addressed to it goes to its successor's actor).
        if reclaimedBy[target] != nil || rowOf(target)?.left == true {
            return .notReclaimer(host: target, reclaimer: actor(for: target))
        }
        if alive.contains(target) { return .stillAlive(host: target) }
        if byOperator { return nil }
        guard view[target] != nil else { return .notReclaimer(host: target, reclaimer: nil) }
        let r = reclaimer(of: target)
        guard r == host else { return .notReclaimer(host: target, reclaimer: r) }
        guard goneForTheWholePeriod(target, now: now) else { return .stillAlive(host: target) }
        // A host that cannot be reached now but was within the period may hold rows this host
        // has not seen (the target's later row, or its own taking of the target's ranges).
        for h in view.keys.sorted() where h != target && acts(h) && !alive.contains(h) {
            if !goneForTheWholePeriod(h, now: now) { return .waitingFor(host: target, waitingFor: h) }
        }
        return nil
    }

    /// Takes `target`'s ranges as its latest row in view states them, minus anything another
    /// row in view owns or has in flight (such a row is newer evidence than the target's copy:
    /// the target gave that part away in a version this host never received), records the
    /// reclaim and stands in for `target` from now on.
    mutating func take(_ target: String) {
        let dead = view[target] ?? AllocatorRow(host: target)
        var spans = dead.owned
        for other in [row] + view.values where other.host != target {
            if acts(other.host) { for s in other.owned { spans = Spans.remove(spans, s) } }
            // Still in flight: neither the recipient nor any host standing in for it took it.
            for d in other.donations where d.recipient != target
            && d.sequence > standInFloor(donor: other.host, recipient: d.recipient) {
                spans = Spans.remove(spans, d.span)
            }
        }
        row.reclaimed[target] = dead.version
        reclaimedBy[target] = host
        for s in spans { row.owned = Spans.insert(row.owned, s) }
        // Its marks, so that this host takes nothing addressed to it twice (and likewise for
        // the hosts it stood in for).
        for (key, mark) in dead.taken {
            let k = key.contains(">") ? key : "\(key)>\(target)"
            row.taken[k] = max(row.taken[k] ?? 0, mark)
        }
    }
}
