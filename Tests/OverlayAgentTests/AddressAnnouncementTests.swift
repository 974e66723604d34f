import Addresses
@testable import OverlayAgent
import Testing

/// The frames that announce an address at a new MAC, checked field by field.
@Suite struct AddressAnnouncementTests {
    @Test func gratuitousARPNamesTheAddressAsSenderAndTarget() throws {
        let mac = try #require(MACAddress("02:42:0a:0a:64:15")), ip = try #require(IPAddress("10.10.100.21"))
        let f = AddressAnnouncement.gratuitousARP(ip, at: mac)
        #expect(f.count == 42)
        #expect(Array(f[0..<6]) == Array(repeating: 0xFF, count: 6))
        #expect(Array(f[6..<12]) == mac.bytes && f[12] == 0x08 && f[13] == 0x06)
        #expect(f[20] == 0 && f[21] == 1, "an ARP request")
        #expect(Array(f[22..<28]) == mac.bytes && Array(f[28..<32]) == ip.bytes && Array(f[38..<42]) == ip.bytes)
    }

    @Test func advertisementCarriesOverrideTargetAndAValidChecksum() throws {
        let mac = try #require(MACAddress("02:00:00:00:02:01")), ip = try #require(IPAddress("fd00:10::21"))
        let f = AddressAnnouncement.unsolicitedAdvertisement(ip, at: mac)
        #expect(Array(f[0..<6]) == [0x33, 0x33, 0, 0, 0, 1] && f[12] == 0x86 && f[13] == 0xDD)
        let ipv6 = Array(f[14..<54]), icmp = Array(f[54...])
        #expect(ipv6[6] == 58 && ipv6[7] == 255, "ICMPv6, hop limit 255 (else the NA is ignored)")
        #expect(icmp[0] == 136 && icmp[4] & 0x20 != 0, "a neighbour advertisement with override")
        #expect(Array(icmp[8..<24]) == ip.bytes && Array(icmp[26..<32]) == mac.bytes)
        let pseudo = Array(ipv6[8..<40]) + [0, 0, 0, UInt8(icmp.count), 0, 0, 0, 58]
        #expect(AddressAnnouncement.checksum(pseudo + icmp) == 0, "the checksum verifies")
    }

    @Test func vxlanHeaderCarriesTheVNI() {
        let packet = AddressAnnouncement.vxlan([1, 2, 3], vni: 0x0A0B0C)
        #expect(packet == [0x08, 0, 0, 0, 0x0A, 0x0B, 0x0C, 0, 1, 2, 3])
    }
}
