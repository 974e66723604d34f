import GossipCore
import Testing

@Suite struct AddressTests {
    @Test(arguments: [
        ("10.1.2.3:7946", "10.1.2.3:7946"),
        ("127.0.0.1:1", "127.0.0.1:1"),
        ("[::1]:7946", "[0:0:0:0:0:0:0:1]:7946"),
        ("[fd00::2:1]:80", "[fd00:0:0:0:0:0:2:1]:80"),
        ("[2001:db8:0:0:0:0:0:1]:65535", "[2001:db8:0:0:0:0:0:1]:65535"),
    ])
    func parsesAndPrints(text: String, printed: String) throws {
        let a = try #require(Address(parsing: text))
        #expect(a.description == printed)
        #expect(Address(parsing: a.description) == a)
        #expect(Address(bytes: a.bytes, port: a.port) == a)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5:1", "256.0.0.1:1", "1.2.3.4:70000", "[::1", "[1::2::3]:1", "::1:2:3:4:5:6:7:8:9", "host:80", "1.2.3.4"])
    func rejectsMalformedText(text: String) {
        #expect(Address(parsing: text) == nil)
    }

    @Test func usesTheDefaultPortWhenNoneIsGiven() {
        #expect(Address(parsing: "10.0.0.1", defaultPort: 7946) == Address(ipv4: 0x0A00_0001, port: 7946))
        #expect(Address(parsing: "::1", defaultPort: 7946)?.family == .v6)
    }

    @Test func rejectsAddressBytesOfTheWrongLength() {
        #expect(Address(bytes: [1, 2, 3], port: 1) == nil)
    }
}
