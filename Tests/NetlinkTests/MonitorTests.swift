import GrapevineTestSupport
import Netlink
import Testing

/// The first event from `monitor` that matches, or nil after `seconds`. Ends the monitor.
func firstEvent(_ monitor: NeighborMonitor, within seconds: Int,
                where match: @escaping @Sendable (NeighborEvent) -> Bool) async -> NeighborEvent? {
    await withTaskGroup(of: NeighborEvent?.self) { group in
        group.addTask {
            do {
                for try await event in monitor where match(event) { return event }
            } catch {
                Issue.record("the monitor failed: \(error)")
            }
            return nil
        }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

@Suite(KernelTestGate.trait) struct MonitorTests {
    @Test func deletingRowsByHandIsSeen() async throws {
        try await withNamespaces(["mon"]) { names in
            let ns = names[0]
            let host = try VXLANHost(namespace: ns)
            let dev = host.device.ifindex
            let m = try mac("02:00:00:dd:00:01")
            let report = try host.table.apply([
                .putFDB(FDBEntry(mac: m, destination: try ip("192.0.2.51"))),
                .putNeighbor(NeighborEntry(ip: try ip("10.66.2.1"), mac: m)),
            ], device: dev)
            #expect(report.allApplied)

            let fdbMonitor = try NeighborMonitor(namespace: .named(ns), device: dev)
            try sh("bridge", "-n", ns, "fdb", "del", "02:00:00:dd:00:01", "dev", "vx0", "dst", "192.0.2.51", "self")
            let fdbEvent = await firstEvent(fdbMonitor, within: 5) {
                if case .fdbRemoved(let row) = $0 { return row.mac == m } else { return false }
            }
            guard case .fdbRemoved(let row) = fdbEvent else {
                Issue.record("no FDB removal seen: \(String(describing: fdbEvent))")
                return
            }
            #expect(row.destination == (try ip("192.0.2.51")))
            #expect(row.isOurs)

            let neighborMonitor = try NeighborMonitor(namespace: .named(ns), device: dev)
            try sh("ip", "-n", ns, "neigh", "del", "10.66.2.1", "dev", "vx0")
            let neighborEvent = await firstEvent(neighborMonitor, within: 5) {
                if case .neighborRemoved(let row) = $0 { return row.ip == IPAddress("10.66.2.1") } else { return false }
            }
            #expect(neighborEvent != nil)
        }
    }

    @Test func additionsAreSeenWithTheirOwner() async throws {
        try await withNamespaces(["monadd"]) { names in
            let ns = names[0]
            let host = try VXLANHost(namespace: ns)
            let monitor = try NeighborMonitor(namespace: .named(ns), device: host.device.ifindex)
            try sh("bridge", "-n", ns, "fdb", "add", "02:00:00:dd:00:02", "dev", "vx0", "dst", "192.0.2.52", "self", "permanent")
            let event = await firstEvent(monitor, within: 5) {
                if case .fdbAdded(let row) = $0 { return row.mac == MACAddress("02:00:00:dd:00:02") } else { return false }
            }
            guard case .fdbAdded(let row) = event else {
                Issue.record("no FDB addition seen")
                return
            }
            #expect(!row.isOurs)
        }
    }

    @Test func anOverflowingSocketReportsLostEvents() async throws {
        try await withNamespaces(["monlost"]) { names in
            let ns = names[0]
            let host = try VXLANHost(namespace: ns)
            // The smallest buffer the kernel allows holds only a few notifications.
            let monitor = try NeighborMonitor(namespace: .named(ns), receiveBuffer: 1)
            let vtep = try ip("192.0.2.53")
            let changes = (0..<5000).map { RowChange.putFDB(FDBEntry(mac: MACAddress(value: 0x0200_0001_0000 | UInt64($0)), destination: vtep)) }
            let report = try host.table.apply(changes, device: host.device.ifindex)
            #expect(report.allApplied)
            let event = await firstEvent(monitor, within: 5) { $0 == .eventsLost }
            #expect(event == .eventsLost)
        }
    }
}
