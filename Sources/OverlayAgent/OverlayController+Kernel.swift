import Netlink
import Overlay

typealias ReconcileReason = AgentMetrics.ReconcileReason

extension AgentMetrics.ReconcileReason: Comparable {
    /// When several reasons are pending for one network, the reconcile is counted under the
    /// most telling one.
    private var rank: Int {
        switch self {
        case .timer: 0
        case .change: 1
        case .start: 2
        case .error: 3
        case .drift: 4
        case .device: 5
        }
    }

    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
}

extension OverlayController {
    func schedule(_ vni: VNI, _ reason: ReconcileReason) {
        pending[vni] = max(pending[vni] ?? reason, reason)
        wake.yield()
    }

    func schedule(all reason: ReconcileReason) {
        for vni in Set(devices.keys).union(removalOwed.keys) { schedule(vni, reason) }
    }

    /// Reconciles the networks that asked for it, one batch per wake-up: changes that come in
    /// while a reconcile runs are taken by the next one. Nothing is written before the first
    /// join (a replica that is still empty would withdraw every remote row).
    func reconcileLoop() async {
        for await _ in wakes {
            guard joined else { continue }
            if hostRowOwed {
                do { try await publishHostRow() } catch {
                    logger.warning("host row not published yet", metadata: ["gossip.error": "\(error)"])
                }
            }
            if replicaChanged {
                replicaChanged = false
                updateDesired()
            }
            let batch = pending.sorted { $0.key < $1.key }
            pending = [:]
            for (vni, reason) in batch { await reconcile(vni, reason) }
        }
    }

    func reconcile(_ vni: VNI, _ reason: ReconcileReason) async {
        guard let device = devices[vni] else {
            if let owed = removalOwed[vni] { await removeDevices(owed) }
            return
        }
        let rows = desired.networks[vni] ?? NetworkRows()
        let keepOwn = keepOwnRowsUntil.map { ContinuousClock.now < $0 } ?? true
        let began = ContinuousClock.now
        var reason = reason
        let name = device.network.name
        do {
            if ensureWanted.remove(vni) != nil, try await ensureDevice(device).repaired { reason = .device }
            var outcome = try await kernel.reconcile(device, to: rows, keepingOwnRows: keepOwn, ownFlood: ownFlood(vni))
            if outcome == nil {
                logger.warning("network device missing, making it anew", metadata: ["network.name": "\(name)", "network.device": "\(device.network.device)"])
                _ = try await ensureDevice(device)
                reason = .device
                outcome = try await kernel.reconcile(device, to: rows, keepingOwnRows: keepOwn, ownFlood: ownFlood(vni))
            }
            guard let (ifindex, result) = outcome else {
                retryLater(vni, "device \(device.network.device) vanished again")
                return
            }
            deviceIndexes[ifindex] = vni
            reconciles += 1
            metrics.reconciled(network: name, reason: reason, seconds: (ContinuousClock.now - began).seconds)
            count(result, network: name)
            await recordFlood(result.ownFlood, vni)
            if reason == .drift, !result.diff.operations.isEmpty {
                driftRepairs += 1
                metrics.driftRepaired(network: name)
                logger.info("kernel drift repaired", metadata: ["network.name": "\(name)", "reconcile.operations": "\(result.diff.operations.count)"])
            }
            for blocked in result.diff.blocked {
                logger.info("desired row blocked by an operator's row", metadata: ["network.name": "\(name)", "row": "\(blocked)"])
            }
            if result.report.failures.isEmpty {
                if !keepOwn { lastApplied[vni] = rows }
                retryBackoff[vni] = nil
            } else {
                for failure in result.report.failures.prefix(8) { netlinkError("apply", failure.error) }
                netlinkErrors += UInt64(max(0, result.report.failures.count - 8))
                retryLater(vni, "\(result.report.failures.count) rows failed")
            }
        } catch {
            netlinkError("reconcile", error)
            retryLater(vni, "\(error)")
        }
    }

    /// Makes a network's devices exist as wanted and learns their indexes and the bridge's
    /// ports; a bridge made anew gets back the ports it had.
    @discardableResult
    func ensureDevice(_ device: NetworkDevice) async throws(NetlinkError) -> EnsuredDevice {
        let vni = device.network.vni
        // Devices made at start or for a new network are not repairs.
        let known = deviceIndexes.values.contains(vni)
        let ensured = try await kernel.ensure(device, restoring: bridgePorts[vni] ?? [])
        for (index, owner) in bridgeIndexes where owner == vni && index != ensured.bridgeIndex { bridgeIndexes[index] = nil }
        for (index, owner) in deviceIndexes where owner == vni && index != ensured.vxlanIndex { deviceIndexes[index] = nil }
        bridgeIndexes[ensured.bridgeIndex] = vni
        deviceIndexes[ensured.vxlanIndex] = vni
        bridgePorts[vni] = ensured.ports
        if ensured.mtuSet, known {
            logger.info("network devices' MTU set", metadata: ["network.name": "\(device.network.name)", "network.mtu": "\(device.settings.mtu ?? 0)"])
        }
        if ensured.repaired, known {
            logger.warning("network devices repaired", metadata: [
                "network.name": "\(device.network.name)", "network.bridge_created": "\(ensured.bridgeCreated)",
                "network.device_created": "\(ensured.outcome == .created)", "network.ports_restored": "\(ensured.restored)",
            ])
        }
        return ensured
    }

    /// The agent's record of its flood destinations on `vni`; nil without one (the flags decide).
    func ownFlood(_ vni: VNI) -> Set<IPAddress>? {
        if let owned = floodOwned[vni] { return owned }
        return floodRecordLoaded ? [] : nil
    }

    /// Keeps the agent's flood destinations of `vni` as the reconcile left them, on disk when
    /// they changed. A failed write is counted and logged: the record in memory stays right,
    /// and the next change writes the file again.
    func recordFlood(_ owned: Set<IPAddress>, _ vni: VNI) async {
        guard floodOwned[vni] != owned || !floodRecordLoaded else { return }
        floodOwned[vni] = owned
        do {
            try await persistence.write(json: FloodRecord(floodOwned), to: FloodRecord.path(in: configuration.dataDir))
            floodRecordLoaded = true
        } catch {
            metrics.storeError(file: "flood")
            logger.error("cannot keep the record of this host's flood rows", metadata: ["store.error": "\(error)"])
        }
    }

    private func count(_ result: Reconciliation, network: String) {
        var flood = 0, unicast = 0, neighbor = 0, delete = 0
        for op in result.diff.operations {
            switch op {
            case .appendFlood: flood += 1
            case .replaceUnicast: unicast += 1
            case .replaceNeighbor: neighbor += 1
            case .deleteFlood, .deleteUnicast, .deleteNeighbor: delete += 1
            }
        }
        let applied = UInt64(result.report.applied)
        rowsWritten += applied
        let counts: [(AgentMetrics.RowKind, Int)] = [(.flood, flood), (.unicast, unicast), (.neighbor, neighbor), (.delete, delete)]
        for (kind, n) in counts where n > 0 {
            metrics.applied(network: network, kind: kind, count: n)
        }
    }

    /// A failed reconcile is tried again after a backoff (100 ms doubling to 30 s, jittered),
    /// not at once: a row the kernel keeps refusing must not become a busy loop. One retry
    /// waits per network at most.
    func retryLater(_ vni: VNI, _ why: String) {
        var backoff = retryBackoff[vni] ?? Backoff(base: .milliseconds(100), cap: .seconds(30))
        let wait = backoff.next()
        retryBackoff[vni] = backoff
        logger.warning("reconcile incomplete, retrying", metadata: ["network.vni": "\(vni)", "reconcile.error": "\(why)",
                                                                   "reconcile.retry_seconds": "\(wait.seconds)"])
        guard retryWaiting.insert(vni).inserted else { return }
        retries.yield((vni, wait))
    }

    /// Waits out each retry `retryLater` asks for, in a child task of its own (children of this
    /// call, so they end with the agent's run), then schedules the reconcile.
    func retryLoop() async {
        await withDiscardingTaskGroup { group in
            for await (vni, wait) in retryWaits {
                group.addTask {
                    do { try await Task.sleep(for: wait) } catch { return }
                    await self.retryNow(vni)
                }
            }
            group.cancelAll()
        }
    }

    private func retryNow(_ vni: VNI) {
        retryWaiting.remove(vni)
        schedule(vni, .error)
    }

    func netlinkError(_ operation: String, _ error: NetlinkError) {
        netlinkErrors += 1
        metrics.netlinkError(operation: operation)
        logger.warning("netlink error", metadata: ["netlink.operation": "\(operation)", "netlink.error": "\(error)"])
    }

    /// Every `reconcileInterval` seconds: make sure every device is there as configured (one
    /// deleted or changed by hand is made anew), and reconcile every network in full.
    func timerLoop() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(configuration.reconcileInterval)) } catch { return }
            for vni in devices.keys { ensureWanted.insert(vni) }
            schedule(all: .timer)
        }
    }

    /// Follows the kernel's notifications for as long as the agent runs. The monitor that ends
    /// (a receive error) is counted, logged and made anew after a backoff, and every network is
    /// then reconciled in full, since what happened in between was not seen.
    func followKernel() async {
        var backoff = Backoff(base: .milliseconds(100), cap: .seconds(30))
        var opened = 0
        while !Task.isCancelled {
            let began = ContinuousClock.now
            do {
                let monitor = try NeighborMonitor(links: true, addresses: true)
                opened += 1
                if opened > 1 {
                    for vni in devices.keys { ensureWanted.insert(vni) }
                    schedule(all: .drift)
                }
                await resyncUnderlay()
                for try await event in monitor {
                    switch event {
                    case .address(let change): await observeUnderlay(change)
                    case .eventsLost: handle(event); await resyncUnderlay()
                    default: handle(event)
                    }
                }
                guard !Task.isCancelled else { return }
                monitorEnded("finished", "the notification stream ended")
            } catch {
                guard !Task.isCancelled else { return }
                monitorEnded(opened == 0 ? "open" : "error", "\(error)")
            }
            // A monitor that ran for a while ended on its own: start over from the base wait.
            if ContinuousClock.now - began > backoff.cap { backoff.reset() }
            do { try await Task.sleep(for: backoff.next()) } catch { return }
        }
    }

    private func monitorEnded(_ cause: String, _ error: String) {
        metrics.monitorEnded(cause: cause)
        logger.error("kernel notification monitor ended; restarting it and reconciling every network",
                     metadata: ["monitor.cause": "\(cause)", "monitor.error": "\(error)"])
    }

    /// One kernel notification. A row of the agent's deleted or changed by someone else, or a
    /// learned row in the way of one it must program, is drift, repaired by a reconcile of that
    /// network; so is a VXLAN device set down or detached from its bridge, or a bridge deleted,
    /// which `ensure` repairs first. Lost notifications mean anything may have changed: every
    /// network.
    func handle(_ event: NeighborEvent) {
        switch event {
        case .eventsLost:
            for vni in devices.keys { ensureWanted.insert(vni) }
            schedule(all: .drift)
        case .fdbRemoved(let row), .fdbAdded(let row):
            guard let vni = deviceIndexes[row.ifindex], let rows = desired.networks[vni] else { return }
            if isDrift(row, removed: { if case .fdbRemoved = event { true } else { false } }(), rows) { schedule(vni, .drift) }
        case .neighborRemoved(let row), .neighborAdded(let row):
            guard let vni = deviceIndexes[row.ifindex], let rows = desired.networks[vni] else { return }
            let removed = { if case .neighborRemoved = event { true } else { false } }()
            if isDrift(row, removed: removed, rows) { schedule(vni, .drift) }
        case .link(let link):
            observeUnderlay(link)
            handle(link)
        case .address:
            // followKernel hands these to observeUnderlay, which reads the kernel.
            break
        }
    }

    private func handle(_ link: LinkEvent) {
        if let vni = deviceIndexes[link.ifindex] {
            let bridge = bridgeIndexes.first { $0.value == vni }?.key
            if link.removed || !link.isUp || link.masterIndex == nil || link.masterIndex != bridge { deviceChanged(vni, link) }
        } else if let vni = bridgeIndexes[link.ifindex] {
            if link.removed || !link.isUp { deviceChanged(vni, link) }
        } else if link.removed {
            for vni in bridgePorts.keys { bridgePorts[vni]?.remove(link.name) }
        } else if let master = link.masterIndex, let vni = bridgeIndexes[master] {
            bridgePorts[vni, default: []].insert(link.name)
        }
    }

    private func deviceChanged(_ vni: VNI, _ link: LinkEvent) {
        if ensureWanted.insert(vni).inserted {
            logger.info("network device changed by someone else, repairing", metadata: ["network.vni": "\(vni)", "link": "\(link)"])
        }
        schedule(vni, .drift)
    }

    private func isDrift(_ row: FDBRow, removed: Bool, _ rows: NetworkRows) -> Bool {
        guard let destination = row.destination else { return false }
        if row.mac.isZero { return removed && rows.flood.contains(destination) }
        guard let wanted = rows.unicast[row.mac] else { return false }
        if removed { return wanted == destination }
        return !row.isOurs && (row.isDynamic || wanted != destination)
    }

    private func isDrift(_ row: NeighborRow, removed: Bool, _ rows: NetworkRows) -> Bool {
        guard let wanted = rows.neighbors[row.ip] else { return false }
        if removed { return row.mac == nil || row.mac == wanted }
        return !row.isOurs
    }
}
