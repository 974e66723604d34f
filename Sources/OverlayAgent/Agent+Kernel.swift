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

extension Agent {
    func schedule(_ vni: VNI, _ reason: ReconcileReason) {
        pending[vni] = max(pending[vni] ?? reason, reason)
        wake.yield()
    }

    func schedule(all reason: ReconcileReason) {
        for vni in devices.keys { schedule(vni, reason) }
    }

    /// Reconciles the networks that asked for it, one batch per wake-up: changes that come in
    /// while a reconcile runs are taken by the next one. Nothing is written before the first
    /// join (a replica that is still empty would withdraw every remote row).
    func reconcileLoop() async {
        for await _ in wakes {
            guard joined else { continue }
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
        guard let device = devices[vni] else { return }
        let rows = desired.networks[vni] ?? NetworkRows()
        let keepOwn = keepOwnRowsUntil.map { ContinuousClock.now < $0 } ?? true
        let began = ContinuousClock.now
        var reason = reason
        let name = device.network.name
        do {
            var outcome = try await kernel.reconcile(device, to: rows, keepingOwnRows: keepOwn)
            if outcome == nil {
                logger.warning("network device missing, making it anew", metadata: ["network.name": "\(name)", "network.device": "\(device.network.device)"])
                _ = try await kernel.ensure(device)
                reason = .device
                outcome = try await kernel.reconcile(device, to: rows, keepingOwnRows: keepOwn)
            }
            guard let (ifindex, result) = outcome else {
                retryLater(vni, "device \(device.network.device) vanished again")
                return
            }
            deviceIndexes[ifindex] = vni
            reconciles += 1
            metrics.reconciled(network: name, reason: reason, seconds: (ContinuousClock.now - began).seconds)
            count(result, network: name)
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

    /// A failed reconcile is tried again a second later, not at once: a row the kernel keeps
    /// refusing must not become a busy loop.
    private func retryLater(_ vni: VNI, _ why: String) {
        logger.warning("reconcile incomplete, retrying in 1 s", metadata: ["network.vni": "\(vni)", "reconcile.error": "\(why)"])
        Task {
            try? await Task.sleep(for: .seconds(1))
            self.schedule(vni, .error)
        }
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
            for (vni, device) in devices {
                do {
                    if try await kernel.ensure(device) == .created { schedule(vni, .device) }
                } catch {
                    netlinkError("ensure", error)
                }
            }
            schedule(all: .timer)
        }
    }

    /// Kernel notifications: a row of the agent's deleted or changed by someone else, or a
    /// learned row in the way of one it must program, is drift, repaired by a reconcile of
    /// that network. Lost notifications mean anything may have changed: all networks.
    func follow(_ monitor: NeighborMonitor) async {
        for await event in monitor {
            switch event {
            case .eventsLost:
                schedule(all: .drift)
            case .fdbRemoved(let row), .fdbAdded(let row):
                guard let vni = deviceIndexes[row.ifindex], let rows = desired.networks[vni] else { continue }
                if isDrift(row, removed: { if case .fdbRemoved = event { true } else { false } }(), rows) { schedule(vni, .drift) }
            case .neighborRemoved(let row), .neighborAdded(let row):
                guard let vni = deviceIndexes[row.ifindex], let rows = desired.networks[vni] else { continue }
                let removed = { if case .neighborRemoved = event { true } else { false } }()
                if isDrift(row, removed: removed, rows) { schedule(vni, .drift) }
            }
        }
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
