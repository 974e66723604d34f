import GrapevineTestSupport
import Netlink
import Overlay
import OverlayAgent
import Testing

/// The overlay model's operations against a real kernel VXLAN device in a namespace the test
/// creates: the diff's model of the kernel (RowDiffTests) checked against the kernel itself.
@Suite(KernelTestGate.trait) struct DeviceReconcilerTests {
    static func desired() throws -> NetworkRows {
        NetworkRows(
            flood: [try ip("192.0.2.2"), try ip("192.0.2.3")],
            unicast: [try mac("02:00:00:00:02:01"): try ip("192.0.2.2"), try mac("02:00:00:00:03:01"): try ip("192.0.2.3"),
                      try mac("02:00:00:00:03:02"): try ip("192.0.2.3")],
            neighbors: [try ip("10.20.0.21"): try mac("02:00:00:00:02:01"), try ip("10.20.0.31"): try mac("02:00:00:00:03:01"),
                        try ip("fd20::31"): try mac("02:00:00:00:03:01")])
    }

    /// The device's rows as the reconciler sees them.
    static func observed(_ host: VXLANHost) throws -> ObservedRows {
        ObservedRows(fdb: try host.table.fdbRows(device: host.device.ifindex),
                     neighbors: try host.table.neighborRows(device: host.device.ifindex))
    }

    static func allOurs(_ rows: NetworkRows) -> ObservedRows {
        ObservedRows(flood: Dictionary(uniqueKeysWithValues: rows.flood.map { ($0, .ours) }),
                     unicast: rows.unicast.mapValues { ObservedRow($0, origin: .ours) },
                     neighbors: rows.neighbors.mapValues { ObservedRow(Optional($0), origin: .ours) })
    }

    @Test func anEmptyDeviceGetsEveryRowAndASecondPassSendsNothing() async throws {
        try await withNamespaces(["rec"]) { names in
            let host = try VXLANHost(namespace: names[0])
            let desired = try Self.desired()
            let first = try DeviceReconciler.reconcile(device: host.device.ifindex, to: desired, using: host.table)
            #expect(first.converged && first.report.applied == desired.count)
            #expect(try Self.observed(host) == Self.allOurs(desired))
            // What an agent restart does: it reconciles, and a device that is right is left alone.
            let second = try DeviceReconciler.reconcile(device: host.device.ifindex, to: desired, using: host.table)
            #expect(second.diff.operations.isEmpty && second.report.sends == 0)
        }
    }

    @Test func rowsDeletedByHandComeBackAndAMovedMACIsReplacedInPlace() async throws {
        try await withNamespaces(["drift"]) { names in
            let ns = names[0]
            let host = try VXLANHost(namespace: ns)
            var desired = try Self.desired()
            _ = try DeviceReconciler.reconcile(device: host.device.ifindex, to: desired, using: host.table)
            try sh("bridge", "-n", ns, "fdb", "del", "02:00:00:00:02:01", "dev", "vx0", "dst", "192.0.2.2", "self")
            try sh("bridge", "-n", ns, "fdb", "del", "00:00:00:00:00:00", "dev", "vx0", "dst", "192.0.2.3", "self")
            try sh("ip", "-n", ns, "neigh", "del", "10.20.0.31", "dev", "vx0")
            desired.unicast[try mac("02:00:00:00:03:02")] = try ip("192.0.2.2")  // the container moved to .2
            let repair = try DeviceReconciler.reconcile(device: host.device.ifindex, to: desired, using: host.table)
            #expect(repair.diff.operations == [
                .appendFlood(try ip("192.0.2.3")),
                .replaceUnicast(try mac("02:00:00:00:02:01"), try ip("192.0.2.2")),
                .replaceUnicast(try mac("02:00:00:00:03:02"), try ip("192.0.2.2")),
                .replaceNeighbor(try ip("10.20.0.31"), try mac("02:00:00:00:03:01")),
            ])
            #expect(repair.converged)
            #expect(try Self.observed(host) == Self.allOurs(desired))
            #expect(try host.bridgeFDB().filter { $0.hasPrefix("02:00:00:00:03:02") }.count == 1,
                    "a replace leaves one row, not the old destination beside the new")
        }
    }

    /// With learning on, the kernel learns a dynamic row for a peer's MAC; the agent's row must
    /// replace it, not spare it as an operator's (the peer would work only until it aged out).
    @Test func aRowTheKernelLearnedIsReplacedByTheAgentsRow() async throws {
        try await withNamespaces(["learned"]) { names in
            let ns = names[0]
            let links = try LinkSocket(namespace: .named(ns))
            let device = try links.createVXLAN(
                named: "vx1", VXLANSettings(vni: 43, local: try ip("192.0.2.1"), port: 4789, learning: true, mtu: 1450))
            try links.setUp("vx1")
            let table = try VXLANTable(namespace: .named(ns))
            try sh("bridge", "-n", ns, "fdb", "add", "02:00:00:00:02:01", "dev", "vx1", "dst", "192.0.2.9", "self", "dynamic")
            try sh("ip", "-n", ns, "neigh", "add", "10.20.0.21", "lladdr", "02:00:00:00:09:09", "dev", "vx1", "nud", "reachable")
            let fdb = try table.fdbRows(device: device.ifindex)
            let neighbors = try table.neighborRows(device: device.ifindex)
            // (The kernel may add its own multicast neighbour rows, ff02::16, once IPv6 is up: those
            // are foreign, and beside the point.)
            let foreign = ForeignRows(fdb: fdb, neighbors: neighbors)
            let learnedIP = try ip("10.20.0.21")
            #expect(foreign.unicastMACs.isEmpty && !foreign.neighborIPs.contains(learnedIP), "learned rows are nobody's")

            let desired = NetworkRows(unicast: [try mac("02:00:00:00:02:01"): try ip("192.0.2.2")],
                                      neighbors: [try ip("10.20.0.21"): try mac("02:00:00:00:02:01")])
            let result = try DeviceReconciler.reconcile(device: device.ifindex, to: desired, using: table)
            #expect(result.converged && result.diff.operations == [
                .deleteUnicast(try mac("02:00:00:00:02:01"), try ip("192.0.2.9")),
                .replaceUnicast(try mac("02:00:00:00:02:01"), try ip("192.0.2.2")),
                .replaceNeighbor(try ip("10.20.0.21"), try mac("02:00:00:00:02:01")),
            ])
            let after = ObservedRows(fdb: try table.fdbRows(device: device.ifindex),
                                     neighbors: try table.neighborRows(device: device.ifindex))
            #expect(after.unicast[try mac("02:00:00:00:02:01")] == ObservedRow(try ip("192.0.2.2"), origin: .ours))
            #expect(after.neighbors[try ip("10.20.0.21")] == ObservedRow(Optional(try mac("02:00:00:00:02:01")), origin: .ours))
        }
    }

    @Test func anOperatorsRowsAreLeftAsTheyAreAndWhatTheyBlockIsReported() async throws {
        try await withNamespaces(["operator"]) { names in
            let ns = names[0]
            let host = try VXLANHost(namespace: ns)
            try sh("bridge", "-n", ns, "fdb", "add", "02:00:00:00:02:01", "dev", "vx0", "dst", "192.0.2.77", "self", "permanent")
            try sh("bridge", "-n", ns, "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", "192.0.2.78", "self", "permanent")
            let before = try host.bridgeFDB()
            let desired = NetworkRows(unicast: [try mac("02:00:00:00:02:01"): try ip("192.0.2.2")])
            let result = try DeviceReconciler.reconcile(device: host.device.ifindex, to: desired, using: host.table)
            #expect(result.diff.operations.isEmpty)
            #expect(result.diff.blocked == [.unicast(try mac("02:00:00:00:02:01"), wanted: try ip("192.0.2.2"), held: try ip("192.0.2.77"))])
            #expect(try host.bridgeFDB() == before, "the operator's unicast and flood rows are untouched")
        }
    }
}
