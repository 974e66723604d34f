import GrapevineTestSupport
import Netlink
import Testing

@Suite(KernelTestGate.trait) struct FDBTests {
    @Test func unicastAndFloodRowsAreWrittenReplacedAppendedAndDeleted() async throws {
        try await withNamespaces(["fdb"]) { names in
            let host = try VXLANHost(namespace: names[0])
            let dev = host.device.ifindex
            let a = try mac("02:00:00:aa:00:01")
            let b = try mac("02:00:00:aa:00:02")
            let vtep1 = try ip("192.0.2.11")
            let vtep2 = try ip("192.0.2.12")
            let vtep3 = try ip("192.0.2.13")

            let report = try host.table.apply([
                .putFDB(FDBEntry(mac: a, destination: vtep1)),
                .putFDB(FDBEntry(mac: b, destination: vtep2, vni: 900, port: 4790)),
                .putFDB(.flood(to: vtep1)),
                .putFDB(.flood(to: vtep2)),
            ], device: dev)
            #expect(report.allApplied, "\(report.failures)")
            #expect(report.sends == 1)

            var rows = try host.table.fdbRows(device: dev)
            #expect(Set(rows.compactMap(\.entry)) == [
                FDBEntry(mac: a, destination: vtep1), FDBEntry(mac: b, destination: vtep2, vni: 900, port: 4790),
                .flood(to: vtep1), .flood(to: vtep2),
            ])
            #expect(rows.allSatisfy { $0.isOurs })
            var oracle = try host.bridgeFDB()
            #expect(oracle.count == 4, "\(oracle)")
            #expect(oracle.contains { $0.hasPrefix("02:00:00:aa:00:01 dst 192.0.2.11") && $0.contains("extern_learn") })
            #expect(oracle.contains { $0.hasPrefix("02:00:00:aa:00:02 dst 192.0.2.12 port 4790 vni 900") })
            #expect(oracle.contains { $0.hasPrefix("00:00:00:00:00:00 dst 192.0.2.11") })
            #expect(oracle.contains { $0.hasPrefix("00:00:00:00:00:00 dst 192.0.2.12") })

            // Trap: a MAC that moves must really move, in one request.
            try host.table.apply(.putFDB(FDBEntry(mac: a, destination: vtep3)), device: dev)
            oracle = try host.bridgeFDB()
            #expect(oracle.filter { $0.hasPrefix("02:00:00:aa:00:01 ") }.count == 1, "\(oracle)")
            #expect(oracle.contains { $0.hasPrefix("02:00:00:aa:00:01 dst 192.0.2.13") }, "\(oracle)")

            // Trap: a further flood destination must really be appended.
            try host.table.apply(.putFDB(.flood(to: vtep3)), device: dev)
            oracle = try host.bridgeFDB()
            #expect(oracle.filter { $0.hasPrefix("00:00:00:00:00:00 ") }.count == 3, "\(oracle)")
            // Putting an existing flood destination again is idempotent.
            try host.table.apply(.putFDB(.flood(to: vtep3)), device: dev)
            #expect(try host.bridgeFDB().filter { $0.hasPrefix("00:00:00:00:00:00 ") }.count == 3)

            // Trap: deleting one flood destination keeps the others.
            try host.table.apply(.removeFDB(.flood(to: vtep2)), device: dev)
            oracle = try host.bridgeFDB()
            let flood = oracle.filter { $0.hasPrefix("00:00:00:00:00:00 ") }
            #expect(flood.count == 2, "\(oracle)")
            #expect(flood.contains { $0.contains("dst 192.0.2.11") } && flood.contains { $0.contains("dst 192.0.2.13") })

            // Unicast delete names the destination it dumped.
            try host.table.apply(.removeFDB(FDBEntry(mac: b, destination: vtep2, vni: 900, port: 4790)), device: dev)
            rows = try host.table.fdbRows(device: dev)
            #expect(!rows.contains { $0.mac == b })
            #expect(try host.bridgeFDB().count == 3)
            // Removing a row that is gone already is "done" by default and an error on request.
            try host.table.apply(.removeFDB(FDBEntry(mac: b, destination: vtep2)), device: dev, ignoringMissing: true)
            let missing = #expect(throws: NetlinkError.self) {
                try host.table.apply(.removeFDB(FDBEntry(mac: b, destination: vtep2)), device: dev)
            }
            #expect(missing?.errno == 2, "\(String(describing: missing))")
        }
    }

    @Test func rowsThatDifferOnlyByVNIStayApart() async throws {
        try await withNamespaces(["vni"]) { names in
            let host = try VXLANHost(namespace: names[0])
            let vtep = try ip("192.0.2.21")
            let report = try host.table.apply([
                .putFDB(.flood(to: vtep, vni: 100)), .putFDB(.flood(to: vtep, vni: 200)),
            ], device: host.device.ifindex)
            #expect(report.allApplied)
            let rows = try host.table.fdbRows(device: host.device.ifindex)
            #expect(Set(rows.compactMap(\.vni)) == [100, 200])
            #expect(try host.bridgeFDB().count == 2)
        }
    }
}
