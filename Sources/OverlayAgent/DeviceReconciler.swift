public import Netlink
public import Overlay

/// What one reconcile of one device found and did.
public struct Reconciliation: Sendable {
    /// The operations computed from the dump, and the desired rows an operator's row blocks.
    public var diff: RowDiff
    /// What the kernel did with them; `report.needsResync` asks for another full reconcile.
    public var report: BatchReport
    /// The flood destinations the agent owns on the device after this reconcile: the ones it
    /// owned and the kernel still holds, plus those it appended, minus those it deleted.
    public var ownFlood: Set<IPAddress> = []

    /// True when the device now holds every desired row it can (nothing failed).
    public var converged: Bool { report.failures.isEmpty && report.skippedForeign.isEmpty }
}

/// Makes one VXLAN device hold the desired rows: dump, diff, apply (the full reconcile the agent
/// runs at start, after a device is recreated, after a netlink error or lost notification, and
/// on a timer). Rows already right are not written, so running it on a device that is right
/// sends nothing, and restarting the agent never interrupts traffic.
public enum DeviceReconciler {
    /// - Parameters:
    ///   - ifindex: the VXLAN device, in `table`'s namespace.
    ///   - desired: its rows, from `DesiredState`.
    ///   - keepingOwnRows: delete none of the agent's own rows, only add and replace (the
    ///     agent's start, while its replica is still being filled).
    ///   - ownFlood: the flood destinations the agent wrote on this device (its own record).
    ///     The kernel keeps one set of flags for all destinations of the all-zero MAC, so an
    ///     operator's `bridge fdb append` there makes the flags say nothing about who wrote
    ///     which destination: with a record, ownership is the record's, never the flags'. Nil
    ///     (no record yet) falls back to the flags.
    /// - Throws: `NetlinkError` when the dump or the socket fails; per-row failures are in the
    ///   report.
    public static func reconcile(device ifindex: Int32, to desired: NetworkRows, keepingOwnRows: Bool = false,
                                 ownFlood: Set<IPAddress>? = nil, using table: VXLANTable) throws(NetlinkError) -> Reconciliation {
        let fdb = try table.fdbRows(device: ifindex)
        let neighbors = try table.neighborRows(device: ifindex)
        let observed = ObservedRows(fdb: fdb, neighbors: neighbors).owningFlood(ownFlood)
        var target = desired
        if keepingOwnRows { target.keep(ownRowsOf: observed) }
        let diff = RowDiff(from: observed, to: target)
        let report = try table.apply(diff.operations.map(\.change), device: ifindex)
        var owned = Set(observed.flood.filter { $0.value == .ours }.keys)
        let failed = Set(report.failures.map(\.index))
        for (index, operation) in diff.operations.enumerated() where !failed.contains(index) {
            switch operation {
            case .appendFlood(let vtep): owned.insert(vtep)
            case .deleteFlood(let vtep): owned.remove(vtep)
            default: break
            }
        }
        return Reconciliation(diff: diff, report: report, ownFlood: owned)
    }
}

extension ObservedRows {
    /// These rows with the flood destinations' owner taken from the agent's record (`ownFlood`),
    /// not from the kernel's flags; unchanged without a record.
    func owningFlood(_ ownFlood: Set<IPAddress>?) -> ObservedRows {
        guard let ownFlood else { return self }
        var rows = self
        for vtep in rows.flood.keys { rows.flood[vtep] = ownFlood.contains(vtep) ? .ours : .foreign }
        return rows
    }
}

extension NetworkRows {
    /// Adds every row of the agent's own in `observed` whose key these rows leave out, so that
    /// a diff to them deletes nothing of the agent's.
    mutating func keep(ownRowsOf observed: ObservedRows) {
        for (vtep, origin) in observed.flood where origin == .ours { flood.insert(vtep) }
        for (mac, row) in observed.unicast where row.origin == .ours && unicast[mac] == nil { unicast[mac] = row.value }
        for (ip, row) in observed.neighbors where row.origin == .ours && neighbors[ip] == nil {
            if let mac = row.value { neighbors[ip] = mac }
        }
    }
}
