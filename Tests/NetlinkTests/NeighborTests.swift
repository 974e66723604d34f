import GrapevineTestSupport
import Netlink
import Testing

@Suite(KernelTestGate.trait) struct NeighborTests {
    @Test func arpAndNdpRowsAreWrittenReplacedAndDeleted() async throws {
        try await withNamespaces(["neigh"]) { names in
            let host = try VXLANHost(namespace: names[0])
            let dev = host.device.ifindex
            let m1 = try mac("02:00:00:bb:00:01")
            let m2 = try mac("02:00:00:bb:00:02")
            let v4 = try ip("10.66.0.5")
            let v6 = try ip("fd00:66::5")

            let report = try host.table.apply([
                .putNeighbor(NeighborEntry(ip: v4, mac: m1)),
                .putNeighbor(NeighborEntry(ip: v6, mac: m1)),
            ], device: dev)
            #expect(report.allApplied, "\(report.failures)")
            // The kernel adds NOARP rows for multicast groups (ff02::16 ...) by itself: foreign.
            var rows = try host.table.neighborRows(device: dev).filter { !$0.ip.isMulticast }
            #expect(Set(rows.compactMap(\.entry)) == [NeighborEntry(ip: v4, mac: m1), NeighborEntry(ip: v6, mac: m1)])
            #expect(rows.allSatisfy { $0.isOurs && $0.state == 0x80 && $0.protocolNumber == 241 })
            var oracle = try host.ipNeighbors()
            #expect(oracle.contains { $0.hasPrefix("10.66.0.5 lladdr 02:00:00:bb:00:01") && $0.contains("PERMANENT") && $0.contains("proto 241") }, "\(oracle)")
            #expect(oracle.contains { $0.hasPrefix("fd00:66::5 lladdr 02:00:00:bb:00:01") && $0.contains("PERMANENT") }, "\(oracle)")

            // Replace: the address now answers with another MAC, and stays one row.
            try host.table.apply(.putNeighbor(NeighborEntry(ip: v4, mac: m2)), device: dev)
            try host.table.apply(.putNeighbor(NeighborEntry(ip: v6, mac: m2)), device: dev)
            oracle = try host.ipNeighbors()
            #expect(oracle.count == 2, "\(oracle)")
            #expect(oracle.allSatisfy { $0.contains("lladdr 02:00:00:bb:00:02") }, "\(oracle)")

            try host.table.apply(.removeNeighbor(v4), device: dev)
            rows = try host.table.neighborRows(device: dev).filter { !$0.ip.isMulticast }
            #expect(rows.map(\.ip) == [v6])
            try host.table.apply(.removeNeighbor(v6), device: dev)
            #expect(try host.table.neighborRows(device: dev).allSatisfy { $0.ip.isMulticast && !$0.isOurs })
            #expect(try host.ipNeighbors().isEmpty)
        }
    }
}
