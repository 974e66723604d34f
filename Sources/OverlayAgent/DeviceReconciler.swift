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
    /// - Throws: `NetlinkError` when the dump or the socket fails; per-row failures are in the
    ///   report.
    public static func reconcile(device ifindex: Int32, to desired: NetworkRows,
                                 using table: VXLANTable) throws(NetlinkError) -> Reconciliation {
        let fdb = try table.fdbRows(device: ifindex)
        let neighbors = try table.neighborRows(device: ifindex)
        let diff = RowDiff(from: ObservedRows(fdb: fdb, neighbors: neighbors), to: desired)
        let report = try table.apply(diff.operations.map(\.change), device: ifindex)
        return Reconciliation(diff: diff, report: report)
    }
}
