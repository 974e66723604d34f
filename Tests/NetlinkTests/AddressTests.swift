import GrapevineTestSupport
import Netlink
import Testing

@Suite struct AddressTests {
    @Test func macParsesAndPrints() throws {
        let value = try #require(MACAddress("02:aB:00:10:ff:09"))
        #expect(value.description == "02:ab:00:10:ff:09")
        #expect(value.bytes == [0x02, 0xab, 0x00, 0x10, 0xff, 0x09])
        #expect(MACAddress("2:0:0:0:0:1") == MACAddress(2, 0, 0, 0, 0, 1))
        #expect(MACAddress("00:00:00:00:00:00")?.isZero == true)
        #expect(MACAddress("01:00:5e:00:00:01")?.isMulticast == true)
        for bad in ["", "02:00:00:00:00", "02:00:00:00:00:00:00", "0g:00:00:00:00:00", "020:0:0:0:0:0", "02::00:00:00:00"] {
            #expect(MACAddress(bad) == nil, "\(bad)")
        }
    }

    @Test func ipParsesBothFamilies() throws {
        let v4 = try #require(IPAddress("192.0.2.7"))
        #expect(v4 == .v4(0xC000_0207))
        #expect(v4.bytes == [192, 0, 2, 7])
        #expect(v4.description == "192.0.2.7")
        let v6 = try #require(IPAddress("fd00::1:2"))
        #expect(v6.description == "fd00::1:2")
        #expect(v6.bytes.count == 16)
        #expect(IPAddress("300.1.1.1") == nil)
        #expect(IPAddress("fd00::g") == nil)
    }

    @Test func floodEntriesAreTheZeroMAC() throws {
        let entry = FDBEntry.flood(to: try #require(IPAddress("192.0.2.9")))
        #expect(entry.isFlood)
        #expect(!FDBEntry(mac: MACAddress(2, 0, 0, 0, 0, 1), destination: entry.destination).isFlood)
    }

    @Test func foreignRowsProtectOnlyWhatIsForeign() throws {
        let vtep = try #require(IPAddress("192.0.2.9"))
        let theirs = MACAddress(2, 0, 0, 0, 0, 1)
        let ours = MACAddress(2, 0, 0, 0, 0, 2)
        let rows = [
            FDBRow(ifindex: 3, mac: theirs, destination: vtep, state: 0x80, flags: 2, isOurs: false),
            FDBRow(ifindex: 3, mac: ours, destination: vtep, state: 0x80, flags: 0x12, isOurs: true),
            FDBRow(ifindex: 3, mac: .zero, destination: vtep, state: 0x80, flags: 2, isOurs: false),
        ]
        let foreign = ForeignRows(fdb: rows, neighbors: [])
        #expect(foreign.protects(against: .putFDB(FDBEntry(mac: theirs, destination: vtep))))
        #expect(!foreign.protects(against: .putFDB(FDBEntry(mac: ours, destination: vtep))))
        #expect(foreign.protects(against: .removeFDB(.flood(to: vtep))))
        #expect(!foreign.protects(against: .putFDB(.flood(to: try #require(IPAddress("192.0.2.10"))))))
    }
}
