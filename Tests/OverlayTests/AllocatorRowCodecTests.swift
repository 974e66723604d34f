import struct GrapevineTestSupport.SplitMix
import Addresses
import Testing
@testable import Overlay

/// Allocator rows (row kinds 5 and 6, IPv4 and IPv6 pools): their bytes round-trip, and no input traps or is taken
/// for a row that breaks its rules.
@Suite struct AllocatorRowCodecTests {
    static func record(_ seed: UInt64) -> AllocatorRecord {
        var rng = SplitMix(seed: seed)
        let pool = PoolDefinition(subnet: subnet("10.1.0.0/24"), ipRange: seed % 2 == 0 ? subnet("10.1.0.128/25") : nil,
                                  gateway: .v4(0x0A01_0001), auxAddresses: seed % 3 == 0 ? [.v4(0x0A01_0002), .v4(0x0A01_0003)] : [])
        var row = AllocatorRow(host: AllocatorRecord.identity(owner: "host-b", incarnation: 7))
        row.version = UInt64.random(in: 0...UInt64.max, using: &rng)
        row.lastSequence = UInt64.random(in: 0...300, using: &rng)
        row.successor = seed % 2 == 0 ? "host-a~1" : nil
        row.left = seed % 5 == 0
        row.owned = [OffsetSpan(0, 16), OffsetSpan(64, 256)]
        for o in [UInt64(1), 2, 3, 5, 70, 71, 255] where UInt64.random(in: 0...1, using: &rng) == 1 { row.leases.insert(o) }
        row.donations = [Donation(sequence: 3, span: OffsetSpan(16, 64), recipient: "host-c~2")]
        row.taken = ["host-a~1": 1, "host-a~1>host-d~3": 4]
        row.requests = [DonationRequest(sequence: 9, owner: "host-a~1", address: nil),
                        DonationRequest(sequence: 10, owner: "host-c~2", address: 33)]
        row.answered = ["host-c~2": UInt64.max]
        row.reclaimed = seed % 2 == 0 ? ["host-d~3": 12] : [:]
        return AllocatorRecord(vni: vni(4096), incarnation: 7, pool: pool, row: row)
    }

    /// An IPv6 pool's row: spans and leases past 2³² (the managed span of a /64 ends there).
    static func record6(_ seed: UInt64) -> AllocatorRecord {
        var r = record(seed)
        let big = UInt64(1) << 31
        r.pool = PoolDefinition(subnet: subnet("fd00:10::/64"), ipRange: seed % 2 == 0 ? subnet("fd00:10::8000:0/97") : nil,
                                gateway: ip("fd00:10::1"), auxAddresses: seed % 3 == 0 ? [ip("fd00:10::2"), ip("fd00:10::ffff:ffff")] : [])
        r.row.owned = [OffsetSpan(0, 16), OffsetSpan(64, 256), OffsetSpan(big, 2 * big)]
        if seed % 2 == 1 { r.row.leases.formUnion([big, big + 1, 2 * big - 1]) }
        r.row.donations.append(Donation(sequence: 4, span: OffsetSpan(256, big), recipient: "host-e~1"))
        r.row.requests.append(DonationRequest(sequence: 11, owner: "host-a~1", address: 2 * big - 5))
        return r
    }

    @Test(arguments: 0..<8 as Range<UInt64>)
    func anIPv6RowRoundTripsUnderItsOwnKey(seed: UInt64) throws {
        let row = OverlayRow.allocator(Self.record6(seed))
        #expect(row.key == [6, 0x00, 0x10, 0x00, 0, 0, 0, 7], "kind 6: the network's IPv6 pool")
        #expect(row.key != OverlayRow.allocator(Self.record(seed)).key, "one network's two pools are two rows")
        let value = try row.value()
        #expect(try OverlayRow(stateKey: row.stateKey, value: value, owner: "host-b") == row)
        for n in 0..<value.count {
            #expect(throws: OverlayRowError.self) { try OverlayRow(key: row.key, value: value.prefix(n), owner: "host-b") }
        }
        #expect(throws: OverlayRowError.trailingBytes) { try OverlayRow(key: row.key + [0], value: value, owner: "host-b") }
        var replica = Replica()
        #expect(throws: Never.self) { try replica.remove(stateKey: row.stateKey, owner: "host-b") }
    }

    /// A pool of one family under the other family's key is refused: one host would otherwise
    /// publish two rows for one pool.
    @Test func aPoolUnderTheOtherFamilysKeyIsRefused() throws {
        let v4 = try OverlayRow.allocator(Self.record(1)).value()
        let v6 = try OverlayRow.allocator(Self.record6(1)).value()
        #expect { try OverlayRow(key: OverlayRow.allocatorKey(vni: vni(4096), incarnation: 7, ipv6: true), value: v4, owner: "host-b") } throws: {
            ($0 as? OverlayRowError)?.reason == "bad_allocator"
        }
        #expect { try OverlayRow(key: OverlayRow.allocatorKey(vni: vni(4096), incarnation: 7), value: v6, owner: "host-b") } throws: {
            ($0 as? OverlayRowError)?.reason == "bad_allocator"
        }
    }

    /// The start of an IPv6 value: no pool flags, the subnet fd00:10::/64 (the aux count follows).
    static let v6Pool: [UInt8] = [1, 0, 6, 0xfd, 0, 0, 0x10] + [UInt8](repeating: 0, count: 12) + [64]
    /// 2³² as a varint: the first offset past a /64's managed span.
    static let pastSpan: [UInt8] = [0x80, 0x80, 0x80, 0x80, 0x10]

    /// Each IPv6 value breaks one rule; every one is refused with an error, none traps.
    @Test(arguments: [
        // a span starting past the managed span
        (v6Pool + [0, 0, 0, 0, 1] + pastSpan + [1, 0, 0, 0, 0, 0, 0], "bad_allocator"),
        // a span running past it (offset 2^32 - 1, two long)
        (v6Pool + [0, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 2, 0, 0, 0, 0, 0, 0], "bad_allocator"),
        // a span as long as 2^64 - 1
        (v6Pool + [0, 0, 0, 0, 1, 0] + [UInt8](repeating: 0xFF, count: 9) + [1, 0, 0, 0, 0, 0, 0], "bad_allocator"),
        // a lease past the owned span [0, 2^32)
        (v6Pool + [0, 0, 0, 0, 1, 0] + pastSpan + [1] + pastSpan + [1, 0, 0, 0, 0, 0], "bad_allocator"),
        // a donation past the managed span
        (v6Pool + [0, 0, 0, 0, 0, 0, 1, 1] + pastSpan + [1, 1, 0x61, 0, 0, 0, 0], "bad_allocator"),
        // a request for an offset past the managed span
        (v6Pool + [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0x61, 1] + pastSpan + [0, 0], "bad_allocator"),
        // an IPv4 gateway in an IPv6 pool
        ([1, 2, 6, 0xfd, 0, 0, 0x10] + [UInt8](repeating: 0, count: 12) + [64, 4, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "bad_allocator"),
        // a gateway past the managed span (fd00:10::1:0:1)
        ([1, 2, 6, 0xfd, 0, 0, 0x10] + [UInt8](repeating: 0, count: 12) + [64, 6, 0xfd, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]
         + [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "bad_allocator"),
        // an IPv6 subnet with host bits set
        ([1, 0, 6, 0xfd, 0, 0, 0x10] + [UInt8](repeating: 0, count: 11) + [1, 64], "bad_subnet"),
        // an IPv6 prefix of 129
        ([1, 0, 6, 0xfd, 0, 0, 0x10] + [UInt8](repeating: 0, count: 12) + [129], "bad_subnet"),
    ])
    func anIPv6ValueThatBreaksARuleIsRefused(value: [UInt8], reason: String) {
        let key = OverlayRow.allocatorKey(vni: vni(1), incarnation: 1, ipv6: true)
        #expect { try OverlayRow(key: key, value: value, owner: "a") } throws: { ($0 as? OverlayRowError)?.reason == reason }
    }

    @Test func theEmptyIPv6ValueHasTheDocumentedBytes() throws {
        let empty = Self.v6Pool + [UInt8](repeating: 0, count: 11)
        let row = OverlayRow.allocator(AllocatorRecord(vni: vni(1), incarnation: 1, pool: PoolDefinition(subnet: subnet("fd00:10::/64")),
                                                       row: AllocatorRow(host: "a~1")))
        #expect(try row.value() == empty)
        #expect(try OverlayRow(key: OverlayRow.allocatorKey(vni: vni(1), incarnation: 1, ipv6: true), value: empty, owner: "a") == row)
    }

    @Test(arguments: 0..<12 as Range<UInt64>)
    func aRowRoundTripsAndEveryShorterPrefixIsRefused(seed: UInt64) throws {
        let row = OverlayRow.allocator(Self.record(seed))
        #expect(row.key == [5, 0x00, 0x10, 0x00, 0, 0, 0, 7])
        let value = try row.value()
        #expect(try OverlayRow(stateKey: row.stateKey, value: value, owner: "host-b") == row)
        for n in 0..<value.count {
            #expect(throws: OverlayRowError.self) { try OverlayRow(key: row.key, value: value.prefix(n), owner: "host-b") }
        }
        #expect(throws: OverlayRowError.trailingBytes) { try OverlayRow(key: row.key, value: value + [0], owner: "host-b") }
        #expect(throws: OverlayRowError.trailingBytes) { try OverlayRow(key: row.key + [0], value: value, owner: "host-b") }
    }

    @Test func anEmptyRowIsSmallAndItsBytesAreTheDocumentedOnes() throws {
        let row = OverlayRow.allocator(AllocatorRecord(vni: vni(1), incarnation: 1, pool: PoolDefinition(subnet: subnet("10.0.0.0/28")),
                                                       row: AllocatorRow(host: "a~1")))
        #expect(try row.value() == [1, 0, 4, 10, 0, 0, 0, 28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func aRowIsReadOnlyAsTheIdentityOfItsOwner() throws {
        let row = OverlayRow.allocator(Self.record(1))
        let decoded = try OverlayRow(key: row.key, value: try row.value(), owner: "host-z")
        guard case .allocator(let a) = decoded else { Issue.record("not an allocator row"); return }
        #expect(a.row.host == "host-z~7", "a host cannot write another host's allocator")
        #expect(AllocatorRecord.owner(of: "host-z~7") == "host-z")
        #expect(AllocatorRecord.owner(of: "a~b~12") == "a~b")
        #expect(AllocatorRecord.owner(of: "host") == nil)
        #expect(AllocatorRecord.owner(of: "~1") == nil)
        var forged = Self.record(1)
        forged.row = AllocatorRow(host: "host-b~8")
        #expect { try OverlayRow.allocator(forged).value() } throws: { ($0 as? OverlayRowError)?.reason == "bad_allocator" }
    }

    /// Each value breaks one rule; every one is refused with an error, none traps.
    @Test(arguments: [
        // pool flags with an unknown bit
        ([1, 4, 4, 10, 0, 0, 0, 28] as [UInt8], "unknown_flags"),
        // subnet with host bits set
        ([1, 0, 4, 10, 0, 0, 1, 28], "bad_subnet"),
        // family 5
        ([1, 0, 5, 10, 0, 0, 0, 28], "bad_address"),
        // a /31: no address to hand out
        ([1, 0, 4, 10, 0, 0, 0, 31, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "bad_allocator"),
        // 65 aux addresses
        ([1, 0, 4, 10, 0, 0, 0, 28, 65], "bad_allocator"),
        // varint in a long form (0 as 0x80 0x00)
        ([1, 0, 4, 10, 0, 0, 0, 28, 0, 0x80, 0x00], "bad_allocator"),
        // varint past 64 bits
        ([1, 0, 4, 10, 0, 0, 0, 28, 0] + [UInt8](repeating: 0xFF, count: 10) + [1], "bad_allocator"),
        // a span past the pool (a /28 has 16 offsets)
        ([1, 0, 4, 10, 0, 0, 0, 28, 0, 1, 0, 0, 1, 10, 7, 0, 0, 0, 0, 0, 0], "bad_allocator"),
        // an empty span
        ([1, 0, 4, 10, 0, 0, 0, 28, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], "bad_allocator"),
        // two touching spans
        ([1, 0, 4, 10, 0, 0, 0, 28, 0, 1, 0, 0, 2, 0, 4, 4, 4, 0, 0, 0, 0, 0, 0], "bad_allocator"),
        // a lease outside the owned span
        ([1, 0, 4, 10, 0, 0, 0, 28, 0, 1, 0, 0, 1, 0, 4, 1, 9, 1, 0, 0, 0, 0, 0], "bad_allocator"),
        // a lease run that crosses the end of the owned span
        ([1, 0, 4, 10, 0, 0, 0, 28, 0, 1, 0, 0, 1, 0, 4, 1, 2, 3, 0, 0, 0, 0, 0], "bad_allocator"),
        // two lease runs that touch (the second's gap is 0)
        ([1, 0, 4, 10, 0, 0, 0, 28, 0, 1, 0, 0, 1, 0, 4, 2, 0, 1, 0, 1, 0, 0, 0, 0, 0], "bad_allocator"),
        // an empty lease run
        ([1, 0, 4, 10, 0, 0, 0, 28, 0, 1, 0, 0, 1, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0], "bad_allocator"),
        // a lease run whose start overflows 64 bits (gap 2^64 - 1 after a run ending at 1)
        ([1, 0, 4, 10, 0, 0, 0, 28, 0, 1, 0, 0, 1, 0, 4, 2, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 1, 0, 0, 0, 0, 0],
         "bad_allocator"),
        // a count of 2^20 donations
        ([1, 0, 4, 10, 0, 0, 0, 28, 0, 1, 0, 0, 0, 0, 0x80, 0x80, 0x40], "bad_allocator"),
        // a successor of length 0
        ([1, 0, 4, 10, 0, 0, 0, 28, 0, 1, 0, 2, 0], "bad_name"),
        // taken keys out of order
        ([1, 0, 4, 10, 0, 0, 0, 28, 0, 1, 0, 0, 0, 0, 0, 2, 1, 0x62, 1, 1, 0x61, 1, 0, 0, 0], "bad_allocator"),
        // a request for an offset past the pool
        ([1, 0, 4, 10, 0, 0, 0, 28, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0x61, 1, 16, 0, 0], "bad_allocator"),
    ])
    func aValueThatBreaksARuleIsRefused(value: [UInt8], reason: String) {
        let key = OverlayRow.allocatorKey(vni: vni(1), incarnation: 1)
        #expect { try OverlayRow(key: key, value: value, owner: "a") } throws: { ($0 as? OverlayRowError)?.reason == reason }
    }

    /// Leases travel as runs of offsets: a host's leases cost bytes per gap between them, not
    /// per lease, so the 1 KB row limit holds hundreds even when no two are adjacent.
    @Test func thousandsOfLeasesFitOneRow() throws {
        let pool = PoolDefinition(subnet: subnet("10.8.0.0/16"))
        var row = AllocatorRow(host: "a~1")
        row.version = 1
        row.owned = [OffsetSpan(0, 65_536)]
        row.leases = Set(1...10_000)
        let contiguous = try OverlayRow.allocator(AllocatorRecord(vni: vni(1), incarnation: 1, pool: pool, row: row)).value()
        #expect(contiguous.count < 32, "10,000 adjacent leases: \(contiguous.count) bytes")
        // Every other address up to 1,000 bytes: each run costs a one-byte gap and a one-byte count.
        row.leases = Set(stride(from: 2, through: 2 * 490, by: 2).map { UInt64($0) })
        let alternating = OverlayRow.allocator(AllocatorRecord(vni: vni(1), incarnation: 1, pool: pool, row: row))
        #expect(try alternating.value().count + alternating.stateKey.utf8.count <= 1_024, "490 leases, none adjacent")
        #expect(try OverlayRow(stateKey: alternating.stateKey, value: alternating.value(), owner: "a") == alternating)
    }

    /// A row's runs may name at most `maxLeases` offsets: a forged row of a few bytes cannot
    /// make every replica build a set of billions.
    @Test func leasesPastTheBoundAreRefused() throws {
        let pool = PoolDefinition(subnet: subnet("10.8.0.0/15"))
        var row = AllocatorRow(host: "a~1")
        row.owned = [OffsetSpan(0, 131_072)]
        row.leases = Set(1...UInt64(AllocatorRecord.maxLeases))
        let atBound = OverlayRow.allocator(AllocatorRecord(vni: vni(1), incarnation: 1, pool: pool, row: row))
        #expect(try OverlayRow(stateKey: atBound.stateKey, value: atBound.value(), owner: "a") == atBound)
        row.leases.insert(UInt64(AllocatorRecord.maxLeases) + 5)
        let past = OverlayRow.allocator(AllocatorRecord(vni: vni(1), incarnation: 1, pool: pool, row: row))
        #expect { try OverlayRow(stateKey: past.stateKey, value: past.value(), owner: "a") } throws: {
            ($0 as? OverlayRowError)?.reason == "bad_allocator"
        }
    }

    /// Random bytes and random mutations of valid rows: each gives a row or an error, and a
    /// row that decodes encodes back to the same bytes (one encoding per value).
    @Test(arguments: 0..<8 as Range<UInt64>, [false, true])
    func mutatedBytesDecodeToARowOrAnErrorAndNeverTrap(seed: UInt64, ipv6: Bool) throws {
        var rng = SplitMix(seed: seed)
        let key = OverlayRow.allocatorKey(vni: vni(4096), incarnation: 7, ipv6: ipv6)
        let valid = try OverlayRow.allocator(ipv6 ? Self.record6(seed) : Self.record(seed)).value()
        var decoded = 0
        for _ in 0..<2_000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: i)
                default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: i)
                }
                if bytes.isEmpty { bytes = [1] }
            }
            guard let row = try? OverlayRow(key: key, value: bytes, owner: "host-b") else { continue }
            decoded += 1
            #expect(try row.value() == bytes, "seed \(seed): a value has one encoding")
        }
        #expect(decoded < 2_000, "seed \(seed): mutations are refused at least sometimes")
    }
}
