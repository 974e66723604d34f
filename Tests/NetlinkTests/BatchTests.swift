import GrapevineTestSupport
import Netlink
import Testing

@Suite(KernelTestGate.trait) struct BatchTests {
    @Test func aFailedRequestIsReportedWithItsRowAndTheRestApply() async throws {
        try await withNamespaces(["batch"]) { names in
            let host = try VXLANHost(namespace: names[0])
            let dev = host.device.ifindex
            let table = try VXLANTable(namespace: .named(names[0]), requestsPerSend: 256)
            let vtep = try ip("192.0.2.41")
            var changes: [RowChange] = []
            for i in 0..<3000 {
                let m = MACAddress(value: 0x0200_0000_0000 | UInt64(i))
                changes.append(.putFDB(FDBEntry(mac: m, destination: vtep)))
                changes.append(.putNeighbor(NeighborEntry(ip: .v4(0x0A41_0000 | UInt32(i)), mac: m)))
            }
            // Removals of rows that do not exist fail with ENOENT when asked to be strict.
            let badIndices = [5, 2000, 6001]
            for index in badIndices {
                changes.insert(.removeNeighbor(.v4(0x0A42_0000 | UInt32(index))), at: index)
            }
            let report = try table.apply(changes, device: dev, ignoringMissing: false)
            #expect(report.requested == 6003)
            #expect(report.failures.map(\.index) == badIndices)
            #expect(report.failures.allSatisfy { $0.error.errno == 2 && $0.change == changes[$0.index] })
            #expect(report.applied == 6000)
            #expect(report.sends == (6003 + 255) / 256)
            #expect(try table.fdbRows(device: dev).count == 3000)
            #expect(try table.neighborRows(device: dev).filter(\.isOurs).count == 3000)
            #expect(try host.bridgeFDB().count == 3000)
            #expect(try host.ipNeighbors().count == 3000)

            // Everything again: replace makes the batch idempotent.
            let again = try table.apply(changes.filter { if case .removeNeighbor = $0 { false } else { true } }, device: dev)
            #expect(again.allApplied)
            #expect(try table.fdbRows(device: dev).count == 3000)
        }
    }
}
