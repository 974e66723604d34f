import GrapevineTestSupport
import Netlink
import Testing

@Suite(KernelTestGate.trait) struct ForeignRowTests {
    @Test func rowsWrittenByHandAreReportedAsForeignAndLeftAlone() async throws {
        try await withNamespaces(["foreign"]) { names in
            let ns = names[0]
            let host = try VXLANHost(namespace: ns)
            let dev = host.device.ifindex
            try sh("bridge", "-n", ns, "fdb", "add", "02:00:00:cc:00:01", "dev", "vx0", "dst", "192.0.2.31", "self", "permanent")
            try sh("bridge", "-n", ns, "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", "192.0.2.32", "self", "permanent")
            try sh("ip", "-n", ns, "neigh", "add", "10.66.1.1", "lladdr", "02:00:00:cc:00:01", "dev", "vx0", "nud", "permanent")
            let ours = try mac("02:00:00:cc:00:99")
            try host.table.apply(.putFDB(FDBEntry(mac: ours, destination: try ip("192.0.2.33"))), device: dev)

            let fdb = try host.table.fdbRows(device: dev)
            let neighbors = try host.table.neighborRows(device: dev).filter { !$0.ip.isMulticast }
            #expect(fdb.filter { !$0.isOurs }.map(\.mac).sorted() == [.zero, try mac("02:00:00:cc:00:01")])
            #expect(fdb.filter(\.isOurs).map(\.mac) == [ours])
            #expect(neighbors.count == 1 && neighbors.allSatisfy { !$0.isOurs })

            let before = try host.bridgeFDB()
            let neighborsBefore = try host.ipNeighbors()
            let foreign = ForeignRows(fdb: fdb, neighbors: neighbors)
            let attempts: [RowChange] = [
                .putFDB(FDBEntry(mac: try mac("02:00:00:cc:00:01"), destination: try ip("192.0.2.99"))),
                .removeFDB(FDBEntry(mac: try mac("02:00:00:cc:00:01"), destination: try ip("192.0.2.31"))),
                .putFDB(.flood(to: try ip("192.0.2.32"))),
                .removeFDB(.flood(to: try ip("192.0.2.32"))),
                .putNeighbor(NeighborEntry(ip: try ip("10.66.1.1"), mac: ours)),
                .removeNeighbor(try ip("10.66.1.1")),
                .removeFDB(FDBEntry(mac: ours, destination: try ip("192.0.2.33"))),
            ]
            let report = try host.table.apply(attempts, device: dev, sparing: foreign)
            #expect(report.skippedForeign == Array(attempts.prefix(6)))
            #expect(report.failures.isEmpty)
            #expect(report.applied == 1)
            // The hand-written rows are untouched, flags included; only our own row went.
            #expect(try host.bridgeFDB() == before.filter { !$0.hasPrefix("02:00:00:cc:00:99") })
            #expect(try host.ipNeighbors() == neighborsBefore)
            #expect(try host.bridgeFDB().allSatisfy { !$0.contains("extern_learn") })
        }
    }
}
