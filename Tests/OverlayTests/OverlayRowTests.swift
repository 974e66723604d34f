import struct GrapevineTestSupport.SplitMix
import Addresses
import Testing
@testable import Overlay

@Suite struct OverlayRowTests {
    static let endpoint = Endpoint(network: VNI(4096)!, mac: MACAddress("02:42:0a:00:00:02")!, ipv4: IPAddress("10.0.0.2"),
                                   ipv6: IPAddress("fd00::2"), name: "web-1", claim: Claim(time: 42, owner: "host-b"))
    static let rows: [OverlayRow] = [
        .host(vtep: IPAddress("192.168.0.2")!, networks: [VNI(1)!, VNI(4096)!, VNI(0xFF_FFFF)!]),
        .host(vtep: IPAddress("fd00::b")!, networks: []),
        .endpoint(endpoint),
        .endpoint(Endpoint(network: VNI(7)!, mac: MACAddress("02:00:00:00:00:01")!, claim: Claim(time: 0, owner: "host-b"))),
        .endpoint(Endpoint(network: VNI(7)!, mac: MACAddress("02:00:00:00:00:03")!, ipv4: IPAddress("10.0.0.3"), name: "api-2",
                           aliases: ["api", "db", "é"], claim: Claim(time: 3, owner: "host-b"))),
    ]

    @Test(arguments: rows)
    func aRowRoundTripsAndEveryShorterPrefixIsRefused(row: OverlayRow) throws {
        let value = try row.value()
        #expect(try OverlayRow(key: row.key, value: value, owner: "host-b") == row)
        for n in 0..<value.count {
            #expect(throws: OverlayRowError.self) { try OverlayRow(key: row.key, value: value.prefix(n), owner: "host-b") }
        }
        #expect(throws: OverlayRowError.trailingBytes) { try OverlayRow(key: row.key, value: value + [0], owner: "host-b") }
    }

    @Test func theEndpointEncodingIsTheDocumentedOne() throws {
        let row = OverlayRow.endpoint(Self.endpoint)
        #expect(row.key == [2, 0x00, 0x10, 0x00, 0x02, 0x42, 0x0a, 0x00, 0x00, 0x02])
        #expect(try row.value() == [1, 0, 0, 0, 0, 0, 0, 0, 42, 7, 10, 0, 0, 2]
                + [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2] + [5] + Array("web-1".utf8))
    }

    /// Bit 3 and the aliases after the name; without aliases the bytes are those of before.
    @Test func aliasesFollowTheName() throws {
        var e = Self.endpoint
        e.ipv6 = nil
        e.aliases = OverlayRow.canonicalAliases(["web", "front", "web"])
        #expect(e.aliases == ["front", "web"])
        #expect(try OverlayRow.endpoint(e).value() == [1, 0, 0, 0, 0, 0, 0, 0, 42, 13, 10, 0, 0, 2] + [5] + Array("web-1".utf8)
                + [2, 5] + Array("front".utf8) + [3] + Array("web".utf8))
        e.aliases = ["web", "front"]
        #expect(throws: OverlayRowError.badAliases) { try OverlayRow.endpoint(e).value() }
        e.aliases = (0...OverlayRow.maxAliases).map { "a\($0 + 10)" }
        #expect(throws: OverlayRowError.badAliases) { try OverlayRow.endpoint(e).value() }
    }

    @Test(arguments: [
        (OverlayRow.endpoint(Endpoint(network: VNI(1)!, mac: .zero, claim: Claim(time: 1, owner: "x"))), "bad_mac"),
        (.endpoint(Endpoint(network: VNI(1)!, mac: MACAddress("01:00:5e:00:00:01")!, claim: Claim(time: 1, owner: "x"))), "bad_mac"),
        (.endpoint(Endpoint(network: VNI(1)!, mac: MACAddress("02:00:00:00:00:01")!, ipv4: IPAddress("fd00::1"),
                            claim: Claim(time: 1, owner: "x"))), "bad_address"),
        (.endpoint(Endpoint(network: VNI(1)!, mac: MACAddress("02:00:00:00:00:01")!, ipv4: IPAddress("224.0.0.1"),
                            claim: Claim(time: 1, owner: "x"))), "bad_address"),
        (.endpoint(Endpoint(network: VNI(1)!, mac: MACAddress("02:00:00:00:00:01")!, name: "a\u{7}b",
                            claim: Claim(time: 1, owner: "x"))), "bad_name"),
        (.endpoint(Endpoint(network: VNI(1)!, mac: MACAddress("02:00:00:00:00:01")!, name: String(repeating: "n", count: 256),
                            claim: Claim(time: 1, owner: "x"))), "bad_name"),
        (.host(vtep: IPAddress("0.0.0.0")!, networks: []), "bad_address"),
        (.host(vtep: IPAddress("::1")!, networks: []), "bad_address"),
        (.host(vtep: IPAddress("192.168.0.1")!, networks: Set((1...257).map { VNI(UInt32($0))! })), "too_many_networks"),
    ])
    func aRowNoHostWouldAcceptIsRefusedWhereItIsMade(row: OverlayRow, reason: String) {
        #expect { try row.value() } throws: { ($0 as? OverlayRowError)?.reason == reason }
    }

    @Test(arguments: [
        ([UInt8]([1]), [UInt8]([1, 4, 192, 168, 0, 1, 0, 2, 0, 0, 2, 0, 0, 1]), "not_canonical"),
        ([1], [1, 4, 192, 168, 0, 1, 0, 2, 0, 0, 2, 0, 0, 2], "not_canonical"),
        ([1], [1, 5, 192, 168, 0, 1, 0, 0], "bad_address"),
        ([1], [2, 4, 192, 168, 0, 1, 0, 0], "unsupported_format"),
        ([9], [1], "unknown_kind"),
        ([2, 0, 0, 1, 2, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0, 0, 1, 16], "unknown_flags"),
        // Aliases: a count of 0, one over the bound, and two not in increasing order.
        ([2, 0, 0, 1, 2, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0, 0, 1, 8, 0], "bad_aliases"),
        ([2, 0, 0, 1, 2, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0, 0, 1, 8, 17], "bad_aliases"),
        ([2, 0, 0, 1, 2, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0, 0, 1, 8, 2, 1, 0x62, 1, 0x61], "bad_aliases"),
        ([2, 0, 0, 1, 2, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0, 0, 1, 8, 2, 1, 0x61, 1, 0x61], "bad_aliases"),
        ([2, 0, 0, 1, 1, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0, 0, 1, 0], "bad_mac"),
        ([2, 0, 0, 1, 2, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0, 0, 1, 4, 0], "bad_name"),
        ([2, 0, 0, 1, 2, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0, 0, 1, 4, 2, 0xC3, 0x28], "bad_name"),
        ([2, 0, 0, 1, 2, 0, 0, 0, 0, 1, 0], [1, 0, 0, 0, 0, 0, 0, 0, 1, 0], "trailing_bytes"),
    ])
    func aMalformedRowIsRefusedWithItsReason(key: [UInt8], value: [UInt8], reason: String) {
        #expect { try OverlayRow(key: key, value: value, owner: "x") } throws: { ($0 as? OverlayRowError)?.reason == reason }
    }

    @Test(arguments: 0..<20 as Range<UInt64>)
    func randomBytesAreRefusedOrDecodedNeverATrap(seed: UInt64) {
        var rng = SplitMix(seed: seed)
        for _ in 0..<5_000 {
            let key = (0..<Int.random(in: 0...11, using: &rng)).map { _ in UInt8.random(in: 0...3, using: &rng) }
            let value = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if let row = try? OverlayRow(key: key, value: value, owner: "x") {
                // Whatever decodes re-encodes to the same bytes: one encoding per value.
                #expect(row.key == key && (try? row.value()) == value, "seed \(seed)")
            }
        }
    }

    /// Rows ride in the replicated state under a hex key: one text per key, round trip exact.
    @Test(arguments: rows)
    func aRowRoundTripsThroughItsStateKey(row: OverlayRow) throws {
        #expect(try OverlayRow(stateKey: row.stateKey, value: row.value(), owner: "host-b") == row)
        #expect(row.stateKey.utf8.count == row.key.count * 2)
    }

    @Test func theEndpointStateKeyIsLowercaseHex() {
        #expect(OverlayRow.endpoint(Self.endpoint).stateKey == "0200100002420a000002")
        #expect(OverlayRow.host(vtep: IPAddress("192.168.0.2")!, networks: []).stateKey == "01")
    }

    @Test(arguments: ["", "0", "0200100002420A000002", "02001000024 0a00000", "0g", "01 ", "+1"])
    func aStateKeyThatIsNotCanonicalHexIsRefused(key: String) throws {
        let value = try OverlayRow.host(vtep: IPAddress("192.168.0.2")!, networks: []).value()
        #expect(throws: OverlayRowError.badKey) { try OverlayRow(stateKey: key, value: value, owner: "x") }
    }
}
