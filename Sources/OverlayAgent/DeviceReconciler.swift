public import Netlink
public import Overlay

/// What one reconcile of one device found and did.
public struct Reconciliation: Sendable {
    /// The operations computed from the dump, and the desired rows an operator's row blocks.
    public var diff: RowDiff
    /// What the kernel did with them; `report.needsResync` asks for another full reconcile.
    public var report: BatchReport

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
    /// - Throws: `NetlinkError` when the dump or the socket fails; per-row failures are in the
    ///   report.
    public static func reconcile(device ifindex: Int32, to desired: NetworkRows, keepingOwnRows: Bool = false,
                                 using table: VXLANTable) throws(NetlinkError) -> Reconciliation {
        let fdb = try table.fdbRows(device: ifindex)
        let neighbors = try table.neighborRows(device: ifindex)
        let observed = ObservedRows(fdb: fdb, neighbors: neighbors)
        var target = desired
        if keepingOwnRows { target.keep(ownRowsOf: observed) }
        let diff = RowDiff(from: observed, to: target)
        let report = try table.apply(diff.operations.map(\.change), device: ifindex)
        return Reconciliation(diff: diff, report: report)
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
