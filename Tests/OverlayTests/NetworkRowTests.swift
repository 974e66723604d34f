import struct GrapevineTestSupport.SplitMix
import Addresses
import Testing
@testable import Overlay

func subnet(_ text: String) -> Subnet { try! Subnet(text) }

func definition(_ name: String, _ network: UInt32, _ cidr: String, internal: Bool = false, deleted: Bool = false,
                at time: UInt64 = 1, by origin: String = "host-a", v6: String? = nil, mtu: UInt32? = nil) -> NetworkDefinition {
    NetworkDefinition(name: name, vni: vni(network), subnet: subnet(cidr), subnet6: v6.map(subnet), internal: `internal`,
                      deleted: deleted, mtu: mtu, time: time, origin: origin)
}

/// Network definitions (row kind 3) and block claims (row kind 4): their bytes, and the
/// rules that pick the definition and the block holder every host agrees on.
@Suite struct NetworkRowTests {
    static let rows: [OverlayRow] = [
        .network(definition("web", 4096, "10.10.10.0/24")),
        .network(definition("back end", 0xFF_FFFF, "172.16.0.0/12", internal: true, at: .max, by: "h", v6: "fd00:10::/64")),
        .network(definition("ü", 0, "10.0.0.0/29", deleted: true, at: 0, v6: "fd00::/120")),
        .network(definition(String(repeating: "n", count: 255), 7, "10.0.0.0/8", by: String(repeating: "o", count: 255),
                            v6: "2001:db8::/48")),
        .network(definition("jumbo", 4097, "10.10.11.0/24", mtu: 8950)),
        .network(definition("small", 4098, "10.10.12.0/24", v6: "fd00:12::/64", mtu: 576)),
        .block(BlockClaim(vni: vni(4096), index: 3, claim: Claim(time: 9, owner: "host-b"))),
        .block(BlockClaim(vni: vni(0xFF_FFFF), index: .max, claim: Claim(time: .max, owner: "host-b"))),
    ]

    // MARK: bytes

    @Test(arguments: rows)
    func aRowRoundTripsAndEveryShorterPrefixIsRefused(row: OverlayRow) throws {
        let value = try row.value()
        #expect(try OverlayRow(key: row.key, value: value, owner: "host-b") == row)
        #expect(try OverlayRow(stateKey: row.stateKey, value: value, owner: "host-b") == row)
        for n in 0..<value.count {
            #expect(throws: OverlayRowError.self) { try OverlayRow(key: row.key, value: value.prefix(n), owner: "host-b") }
        }
        for n in 1..<row.key.count {
            #expect(throws: OverlayRowError.truncated) { try OverlayRow(key: row.key.prefix(n), value: value, owner: "host-b") }
        }
        #expect(throws: OverlayRowError.trailingBytes) { try OverlayRow(key: row.key, value: value + [0], owner: "host-b") }
        #expect(throws: OverlayRowError.trailingBytes) { try OverlayRow(key: row.key + [0], value: value, owner: "host-b") }
    }

    @Test func theNetworkEncodingIsTheDocumentedOne() throws {
        let row = OverlayRow.network(definition("web", 4096, "10.10.10.0/24", internal: true, at: 42, by: "a",
                                                v6: "fd00::/64"))
        #expect(row.key == [3, 0x00, 0x10, 0x00])
        #expect(row.stateKey == "03001000")
        #expect(try row.value() == [1, 0, 0, 0, 0, 0, 0, 0, 42, 5, 10, 10, 10, 0, 24]
                + [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 64] + [3] + Array("web".utf8) + [1, 0x61])
        let deleted = OverlayRow.network(definition("web", 4096, "10.10.10.0/24", deleted: true, at: 43, by: "a"))
        #expect(try deleted.value() == [1, 0, 0, 0, 0, 0, 0, 0, 43, 2, 10, 10, 10, 0, 24, 3] + Array("web".utf8) + [1, 0x61])
        // The MTU (bit 3) after the subnets; without one, the bytes are those of before.
        let sized = OverlayRow.network(definition("web", 4096, "10.10.10.0/24", at: 44, by: "a", mtu: 1400))
        #expect(try sized.value() == [1, 0, 0, 0, 0, 0, 0, 0, 44, 8, 10, 10, 10, 0, 24, 0x05, 0x78, 3] + Array("web".utf8) + [1, 0x61])
    }

    @Test func theMTUIsPartOfTheNetwork() {
        #expect(!definition("web", 1, "10.0.0.0/24", mtu: 1400).isSameNetwork(as: definition("web", 1, "10.0.0.0/24")))
        #expect(definition("web", 1, "10.0.0.0/24", mtu: 1400).isSameNetwork(as: definition("web", 1, "10.0.0.0/24", at: 9, mtu: 1400)))
    }

    @Test func theBlockEncodingIsTheDocumentedOne() throws {
        let row = OverlayRow.block(BlockClaim(vni: vni(4096), index: 0x0102_0304, claim: Claim(time: 258, owner: "b")))
        #expect(row.key == [4, 0x00, 0x10, 0x00, 1, 2, 3, 4])
        #expect(row.stateKey == "0400100001020304")
        #expect(try row.value() == [1, 0, 0, 0, 0, 0, 0, 1, 2])
    }

    @Test(arguments: [
        (OverlayRow.network(definition("", 1, "10.0.0.0/24")), "bad_name"),
        (.network(definition("a\u{0}b", 1, "10.0.0.0/24")), "bad_name"),
        (.network(definition("a\nb", 1, "10.0.0.0/24")), "bad_name"),
        (.network(definition(String(repeating: "n", count: 256), 1, "10.0.0.0/24")), "bad_name"),
        (.network(definition(String(repeating: "é", count: 128), 1, "10.0.0.0/24")), "bad_name"),
        (.network(definition("web", 1, "10.0.0.0/24", by: "")), "bad_name"),
        (.network(definition("web", 1, "10.0.0.0/24", by: String(repeating: "o", count: 256))), "bad_name"),
        (.network(definition("web", 1, "10.0.0.0/30")), "bad_subnet"),
        (.network(definition("web", 1, "10.0.0.0/7")), "bad_subnet"),
        (.network(definition("web", 1, "fd00::/64")), "bad_subnet"),
        (.network(definition("web", 1, "10.0.0.0/24", v6: "10.1.0.0/24")), "bad_subnet"),
        (.network(definition("web", 1, "10.0.0.0/24", v6: "fd00::/47")), "bad_subnet"),
        (.network(definition("web", 1, "10.0.0.0/24", v6: "fd00::/121")), "bad_subnet"),
        (.network(definition("web", 1, "10.0.0.0/24", mtu: 575)), "bad_mtu"),
        (.network(definition("web", 1, "10.0.0.0/24", mtu: 65_536)), "bad_mtu"),
    ])
    func aDefinitionNoHostWouldAcceptIsRefusedWhereItIsMade(row: OverlayRow, reason: String) {
        #expect { try row.value() } throws: { ($0 as? OverlayRowError)?.reason == reason }
    }

    static let key: [UInt8] = [3, 0, 0, 1]
    static let stamp: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0, 1]
    static let names: [UInt8] = [1, 0x77, 1, 0x61]
    static let v6: [UInt8] = [0xfd] + [UInt8](repeating: 0, count: 14)

    /// A network row's value: the stamp, then `middle`, then the names.
    static func network(_ middle: [UInt8], names: [UInt8] = names) -> [UInt8] { stamp + middle + names }

    static let malformed: [(key: [UInt8], value: [UInt8], reason: String)] = [
        (key, network([16, 10, 0, 0, 0, 24]), "unknown_flags"),
        (key, network([8, 10, 0, 0, 0, 24, 0x02, 0x3f]), "bad_mtu"),  // 575
        (key, network([0x80, 10, 0, 0, 0, 24]), "unknown_flags"),
        (key, network([0, 10, 0, 0, 1, 24]), "bad_subnet"),  // host bits set
        (key, network([0, 10, 0, 0, 0, 33]), "bad_subnet"),  // past IPv4's width
        (key, network([0, 10, 0, 0, 0, 30]), "bad_subnet"),  // a subnet, not one a network may have
        (key, network([0, 10, 0, 0, 0, 7]), "bad_subnet"),
        (key, network([4, 10, 0, 0, 0, 24] + v6 + [1, 64]), "bad_subnet"),  // host bits set
        (key, network([4, 10, 0, 0, 0, 24] + v6 + [0, 129]), "bad_subnet"),
        (key, network([4, 10, 0, 0, 0, 24] + v6 + [0, 47]), "bad_subnet"),
        (key, network([0, 10, 0, 0, 0, 24], names: [0, 1, 0x61]), "bad_name"),
        (key, network([0, 10, 0, 0, 0, 24], names: [1, 0x77, 0]), "bad_name"),
        (key, network([0, 10, 0, 0, 0, 24], names: [2, 0xC3, 0x28, 1, 0x61]), "bad_name"),
        (key, network([0, 10, 0, 0, 0, 24], names: [1, 0x07, 1, 0x61]), "bad_name"),
        (key, network([0, 10, 0, 0, 0, 24], names: [1, 0x77, 1, 0x7f]), "bad_name"),
        (key, [2] + network([0, 10, 0, 0, 0, 24]).dropFirst(), "unsupported_format"),
        ([3, 0, 0], network([0, 10, 0, 0, 0, 24]), "truncated"),
        ([3, 0, 0, 1, 0], network([0, 10, 0, 0, 0, 24]), "trailing_bytes"),
        ([4, 0, 0, 1, 0, 0, 0], stamp, "truncated"),
        ([4, 0, 0, 1, 0, 0, 0, 0, 0], stamp, "trailing_bytes"),
        ([4, 0, 0, 1, 0, 0, 0, 0], stamp + [0], "trailing_bytes"),
        ([4, 0, 0, 1, 0, 0, 0, 0], [2] + stamp.dropFirst(), "unsupported_format"),
        ([7], [1], "unknown_kind"),
        ([6, 0, 0, 1], [1], "truncated"),
    ]

    @Test(arguments: malformed)
    func aMalformedRowIsRefusedWithItsReason(key: [UInt8], value: [UInt8], reason: String) {
        #expect { try OverlayRow(key: key, value: value, owner: "x") } throws: { ($0 as? OverlayRowError)?.reason == reason }
    }

    /// Valid rows with a byte changed, cut, repeated or added: whatever still decodes
    /// re-encodes to exactly the bytes it came from (one encoding per value), and nothing traps.
    @Test(arguments: 0..<20 as Range<UInt64>)
    func mutatedRowsAreRefusedOrReencodeToTheirOwnBytes(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        var decoded = 0
        for _ in 0..<2_000 {
            let row = Self.rows.randomElement(using: &rng)!
            var key = row.key
            var value = try row.value()
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let inKey = Int.random(in: 0..<8, using: &rng) == 0
                var bytes = inKey ? key : value
                let at = Int.random(in: 0...bytes.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0 where at < bytes.count: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                case 1 where at < bytes.count: bytes[at] ^= 1 << UInt8.random(in: 0...7, using: &rng)
                case 2: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                default: bytes.removeSubrange(at...)
                }
                if inKey { key = bytes } else { value = bytes }
            }
            if let row = try? OverlayRow(key: key, value: value, owner: "host-b") {
                decoded += 1
                #expect(row.key == key && (try? row.value()) == value, "seed \(seed): \(key) \(value)")
            }
        }
        #expect(decoded > 0, "seed \(seed): some mutations must still decode, or the test tests nothing")
    }

    @Test func removingRowsOfTheNewKindsByStateKey() throws {
        var replica = Replica()
        let copy = definition("web", 4096, "10.10.10.0/24")
        let claim = BlockClaim(vni: vni(4096), index: 7, claim: Claim(time: 3, owner: "b"))
        try replica.add(stateKey: OverlayRow.network(copy).stateKey, value: OverlayRow.network(copy).value(), owner: "b", live: true)
        try replica.add(stateKey: OverlayRow.block(claim).stateKey, value: OverlayRow.block(claim).value(), owner: "b", live: false)
        #expect(replica.networks == [vni(4096): ["b": copy]])
        #expect(replica.blocks == [Replica.BlockID(vni: vni(4096), index: 7): ["b": 3]])
        #expect(replica.definition(of: vni(4096)) == copy)
        #expect(replica.blockHolder(vni: vni(4096), index: 7) == claim.claim, "a failed owner's claim still holds")

        for key in ["0300100", "030010", "0300100000", "04001000000007", "040010000000000700", "06", "0601", "05", "050010000000"] {
            #expect(throws: OverlayRowError.self) { try replica.remove(stateKey: key, owner: "b") }
        }
        #expect(throws: OverlayRowError.truncated) { try replica.remove(stateKey: "030010", owner: "b") }
        #expect(throws: OverlayRowError.truncated) { try replica.remove(stateKey: "04001000000007", owner: "b") }
        #expect(throws: OverlayRowError.unknownKind(7)) { try replica.remove(stateKey: "0700100000000007", owner: "b") }
        try replica.remove(stateKey: "0500100000000007", owner: "b")  // an allocator row: the replica keeps none
        try replica.remove(stateKey: "0600100000000007", owner: "b")  // an IPv6 pool's allocator row: likewise
        #expect(replica.networks.count == 1 && replica.blocks.count == 1, "refused keys change nothing")

        try replica.remove(stateKey: "03001000", owner: "a")  // another owner's: nothing to remove
        #expect(replica.networks.count == 1)
        try replica.remove(stateKey: "03001000", owner: "b")
        try replica.remove(stateKey: "0400100000000007", owner: "b")
        #expect(replica == Replica(), "no empty entries left behind")
    }

    @Test func theNewRowsChangeNoDesiredState() {
        let a = Host(name: "a", vtep: ip("192.168.0.1"), networks: [vni(100)])
        var replica = Replica(hosts: [.init(host: Host(name: "b", vtep: ip("192.168.0.2"), networks: [vni(100)]), live: true)],
                              endpoints: [Endpoint(network: vni(100), mac: mac("02:00:00:00:00:02"), ipv4: ip("10.0.0.2"),
                                                   claim: Claim(time: 1, owner: "b"))])
        let before = DesiredState(for: a, from: replica)
        replica.add(.network(definition("web", 100, "10.0.0.0/24")), owner: "b", live: true)
        replica.add(.network(definition("db", 200, "10.1.0.0/24")), owner: "c", live: true)
        replica.add(.block(BlockClaim(vni: vni(100), index: 0, claim: Claim(time: 2, owner: "b"))), owner: "b", live: true)
        replica.add(.block(BlockClaim(vni: vni(200), index: 0, claim: Claim(time: 2, owner: "c"))), owner: "c", live: true)
        #expect(DesiredState(for: a, from: replica) == before)
    }

    // MARK: which definition takes effect

    @Test func theLargestStampWinsThenTheLargerOrigin() {
        var replica = Replica()
        replica.add(.network(definition("web", 100, "10.0.0.0/24", at: 5, by: "b")), owner: "b", live: true)
        replica.add(.network(definition("web", 100, "10.0.0.0/24", at: 5, by: "a")), owner: "c", live: true)
        #expect(replica.definition(of: vni(100))?.origin == "b", "equal times: the larger origin")
        replica.add(.network(definition("web", 100, "10.0.0.0/24", at: 6, by: "a")), owner: "a", live: false)
        #expect(replica.definition(of: vni(100))?.stamp == Claim(time: 6, owner: "a"), "a failed owner's copy counts")
        #expect(replica.definition(of: vni(101)) == nil)
        #expect(replica.definitions() == [vni(100): definition("web", 100, "10.0.0.0/24", at: 6, by: "a")])
    }

    @Test func aDeletionIsATombstoneThatWinsUntilALaterCreate() {
        var replica = Replica()
        let created = definition("web", 100, "10.0.0.0/24", at: 3, by: "a")
        for owner in ["a", "b", "c"] { replica.add(.network(created), owner: owner, live: true) }
        // Deleted on b: b writes the tombstone; a and c then replace their copies with it.
        let deleted = definition("web", 100, "10.0.0.0/24", deleted: true, at: 9, by: "b")
        replica.add(.network(deleted), owner: "b", live: true)
        #expect(replica.definition(of: vni(100)) == deleted)
        #expect(replica.definitions()[vni(100)]?.deleted == true, "definitions() holds tombstones too")
        #expect(replica.conflict(with: definition("other", 100, "10.9.0.0/24", at: 10, by: "c")) == nil,
                "a deleted network's VNI is free again")
        // b leaves before the others copied its tombstone: the older live copies win again.
        // This is why hosts copy a tombstone rather than delete their rows.
        var early = replica
        try? early.remove(stateKey: OverlayRow.networkKey(vni(100)).hexState, owner: "b")
        #expect(early.definition(of: vni(100)) == created)
        // Once a and c hold the tombstone, b leaving changes nothing.
        for owner in ["a", "c"] { replica.add(.network(deleted), owner: owner, live: true) }
        try? replica.remove(stateKey: OverlayRow.networkKey(vni(100)).hexState, owner: "b")
        #expect(replica.definition(of: vni(100)) == deleted)
        // Created again, later, elsewhere: the new definition wins over the tombstone.
        let again = definition("web2", 100, "10.5.0.0/24", at: 12, by: "c")
        replica.add(.network(again), owner: "c", live: true)
        #expect(replica.definition(of: vni(100)) == again)
    }

    @Test func aNetworkOutlivesTheHostThatCreatedIt() throws {
        var replica = Replica()
        let created = definition("web", 100, "10.0.0.0/24", at: 3, by: "a")
        replica.add(.network(created), owner: "a", live: true)
        replica.add(.network(created), owner: "b", live: true)
        try replica.remove(stateKey: OverlayRow.network(created).stateKey, owner: "a")
        #expect(replica.definition(of: vni(100)) == created)
    }

    /// Copies with one stamp and different contents come only from a faulty host; every host
    /// must still pick the same one, whatever order the copies arrived in.
    @Test(arguments: 0..<50 as Range<UInt64>)
    func everyHostPicksTheSameDefinitionWhateverTheOrder(seed: UInt64) {
        var rng = SplitMix(seed: seed)
        var copies: [(owner: String, definition: NetworkDefinition)] = []
        for i in 0..<8 {
            copies.append((owner: "h\(i)", definition: definition(
                ["web", "db", "x"].randomElement(using: &rng)!, 100,
                ["10.0.0.0/24", "10.1.0.0/16", "10.2.0.0/29"].randomElement(using: &rng)!,
                internal: Bool.random(using: &rng), deleted: Bool.random(using: &rng),
                at: UInt64.random(in: 1...3, using: &rng), by: ["a", "b", "ab"].randomElement(using: &rng)!)))
        }
        func replica(_ order: [(owner: String, definition: NetworkDefinition)]) -> Replica {
            var r = Replica()
            for c in order { r.add(.network(c.definition), owner: c.owner, live: true) }
            return r
        }
        let winner = replica(copies).definition(of: vni(100))
        // The oracle: the copy no other supersedes.
        #expect(copies.contains { c in c.definition == winner && !copies.contains { $0.definition.supersedes(c.definition) } },
                "seed \(seed)")
        for _ in 0..<5 {
            #expect(replica(copies.shuffled(using: &rng)).definition(of: vni(100)) == winner, "seed \(seed)")
        }
    }

    // MARK: conflicts

    func replica(_ definitions: NetworkDefinition...) -> Replica {
        var r = Replica()
        for d in definitions { r.add(.network(d), owner: d.origin, live: true) }
        return r
    }

    @Test func anotherHostsCopyOfTheSameNetworkIsNoConflict() {
        let web = definition("web", 100, "10.0.0.0/24", internal: true, at: 3, by: "a")
        let r = replica(web)
        #expect(r.conflict(with: definition("web", 100, "10.0.0.0/24", internal: true, at: 7, by: "b")) == nil)
        #expect(r.conflict(with: definition("web", 100, "10.0.0.0/24", internal: false, at: 7, by: "b")) == .vniInUse(web))
        #expect(r.conflict(with: definition("web", 100, "10.0.1.0/24", internal: true, at: 7, by: "b")) == .vniInUse(web))
        #expect(r.conflict(with: definition("web", 100, "10.0.0.0/24", internal: true, at: 7, by: "b", v6: "fd00::/64"))
                == .vniInUse(web))
        #expect(r.conflict(with: definition("Web", 100, "10.0.0.0/24", internal: true, at: 7, by: "b")) == .vniInUse(web),
                "names compare bytewise")
        #expect(r.conflict(with: definition("web", 100, "10.9.0.0/24", deleted: true, at: 7, by: "b")) == nil,
                "a deletion never conflicts")
    }

    @Test func overlappingSubnetsAndTakenNamesConflict() {
        let web = definition("web", 100, "10.0.0.0/16", at: 3, by: "a", v6: "fd00:1::/64")
        let db = definition("db", 200, "10.1.0.0/24", at: 4, by: "b")
        let gone = definition("old", 300, "10.2.0.0/24", deleted: true, at: 5, by: "b")
        let r = replica(web, db, gone)
        #expect(r.conflict(with: definition("new", 400, "10.0.5.0/24")) == .subnetOverlaps(web))
        #expect(r.conflict(with: definition("new", 400, "10.0.0.0/8")) == .subnetOverlaps(web), "the lowest VNI in the way")
        #expect(r.conflict(with: definition("new", 400, "10.3.0.0/24", v6: "fd00:1:0:0:8000::/65")) == .subnetOverlaps(web))
        #expect(r.conflict(with: definition("new", 400, "10.3.0.0/24", v6: "fd00:2::/64")) == nil)
        #expect(r.conflict(with: definition("db", 400, "10.3.0.0/24")) == .nameInUse(db))
        #expect(r.conflict(with: definition("db", 400, "10.1.0.0/25")) == .subnetOverlaps(db), "overlap is named first")
        #expect(r.conflict(with: definition("old", 300, "10.2.0.0/24")) == nil, "deleted networks are in nobody's way")
        #expect(r.conflict(with: definition("web", 200, "10.0.0.0/16")) == .vniInUse(db), "the VNI is named first")
        #expect(NetworkConflict.nameInUse(db).reason == "name_in_use")
        #expect(NetworkConflict.vniInUse(db).description == #"VNI 200 is in use by network "db" (VNI 200, 10.1.0.0/24)"#)
    }

    // MARK: block claims

    @Test func theEarliestClaimHoldsABlock() throws {
        var replica = Replica()
        let network = vni(100)
        func claim(_ owner: String, _ index: UInt32, at time: UInt64) {
            replica.add(.block(BlockClaim(vni: network, index: index, claim: Claim(time: time, owner: owner))),
                        owner: owner, live: true)
        }
        claim("c", 1, at: 5)
        claim("b", 1, at: 4)
        claim("a", 1, at: 7)
        #expect(replica.blockHolder(vni: network, index: 1) == Claim(time: 4, owner: "b"))
        claim("a", 2, at: 6)
        claim("ab", 2, at: 6)
        #expect(replica.blockHolder(vni: network, index: 2) == Claim(time: 6, owner: "a"), "equal times: the smaller owner")
        #expect(replica.blockHolder(vni: network, index: 3) == nil)
        #expect(replica.blockHolder(vni: vni(101), index: 1) == nil)
        claim("a", 0, at: 8)
        #expect(replica.claims(of: "a", vni: network) == [0, 1, 2], "claims, held or not, in order")
        #expect(replica.claims(of: "a", vni: vni(101)) == [])
        // b leaves: its rows go, and the next earliest claim holds the block.
        try replica.remove(stateKey: OverlayRow.blockKey(vni: network, index: 1).hexState, owner: "b")
        #expect(replica.blockHolder(vni: network, index: 1) == Claim(time: 5, owner: "c"))
    }

    /// N hosts each claim blocks of one network, each choosing from what it has seen so far,
    /// and see each other's claims in a random order, through the bytes. Once every row is
    /// everywhere, every host names the same holder for every block: the earliest claim.
    @Test(arguments: 0..<100 as Range<UInt64>)
    func hostsThatSeeClaimsInAnyOrderAgreeOnEveryHolder(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        let n = Int.random(in: 2...8, using: &rng)
        let blocks = try #require(AddressBlocks(subnet(["10.10.10.0/24", "10.10.10.0/26", "10.0.0.0/16"].randomElement(using: &rng)!)))
        let network = vni(42)
        var replicas = Array(repeating: Replica(), count: n)
        var clocks = Array(repeating: UInt64(0), count: n)
        var inboxes: [[OverlayRow]] = Array(repeating: [], count: n)
        var wants = (0..<n).map { _ in Int.random(in: 1...5, using: &rng) }
        var written: [BlockClaim] = []
        while wants.contains(where: { $0 > 0 }) || inboxes.contains(where: { !$0.isEmpty }) {
            let h = Int.random(in: 0..<n, using: &rng)
            if wants[h] > 0 && (inboxes[h].isEmpty || Bool.random(using: &rng)) {
                wants[h] -= 1
                let seen = replicas[h]
                guard let index = blocks.nextFreeBlock(for: "h\(h)", taken: { seen.blockHolder(vni: network, index: $0) != nil })
                else { continue }
                clocks[h] += 1
                let claim = BlockClaim(vni: network, index: index, claim: Claim(time: clocks[h], owner: "h\(h)"))
                replicas[h].add(.block(claim), owner: "h\(h)", live: true)
                written.append(claim)
                for other in 0..<n where other != h { inboxes[other].append(.block(claim)) }
            } else if !inboxes[h].isEmpty {
                let row = inboxes[h].remove(at: Int.random(in: 0..<inboxes[h].count, using: &rng))
                guard case .block(let claim) = row else { continue }
                clocks[h] = max(clocks[h], claim.claim.time)  // Lamport: later than anything seen
                try replicas[h].add(stateKey: row.stateKey, value: row.value(), owner: claim.owner, live: true)
            }
        }
        for index in 0..<blocks.count {
            let earliest = written.filter { $0.index == index }.map(\.claim).min()
            for h in 0..<n {
                #expect(replicas[h].blockHolder(vni: network, index: index) == earliest, "seed \(seed): host h\(h), block \(index)")
            }
        }
        for h in 1..<n { #expect(replicas[h] == replicas[0], "seed \(seed)") }
    }
}

extension [UInt8] {
    /// The replicated-state key of these key bytes.
    var hexState: String { OverlayRow.stateKey(self) }
}
