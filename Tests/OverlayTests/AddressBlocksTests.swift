import struct GrapevineTestSupport.SplitMix
@testable import Addresses
import Testing
@testable import Overlay

@Suite struct SubnetTests {
    @Test(arguments: ["10.10.10.0/24", "0.0.0.0/0", "10.0.0.1/32", "172.16.0.0/12", "fd00:10::/64", "::/0",
                      "2001:db8::1/128", "fd00:0:0:0:8000::/65"])
    func aSubnetsTextRoundTrips(text: String) throws {
        let s = try Subnet(text)
        #expect(try Subnet(s.description) == s)
        #expect(s.network == s.base)
    }

    @Test func theCanonicalTextIsTheAddressesOwn() throws {
        #expect(try Subnet("fd00:0:0:0:8000::/65").description == "fd00::8000:0:0:0/65")
        #expect(try Subnet("10.10.10.0/24") == Subnet(base: ip("10.10.10.0"), prefix: 24))
    }

    @Test(arguments: [
        ("10.10.10.1/24", SubnetError.hostBitsSet),
        ("fd00::1/64", .hostBitsSet),
        ("10.0.0.0/33", .prefixOutOfRange(33)),
        ("fd00::/129", .prefixOutOfRange(129)),
        ("10.0.0.0/999", .prefixOutOfRange(999)),
        ("10.0.0.0/", .malformed("10.0.0.0/")),
        ("10.0.0.0", .malformed("10.0.0.0")),
        ("/24", .malformed("/24")),
        ("10.0.0.0/024", .malformed("10.0.0.0/024")),
        ("10.0.0.0/00", .malformed("10.0.0.0/00")),
        ("10.0.0.0/+8", .malformed("10.0.0.0/+8")),
        ("10.0.0.0/-8", .malformed("10.0.0.0/-8")),
        ("10.0.0.0/8/8", .malformed("10.0.0.0/8/8")),
        ("10.0.0.0/1000", .malformed("10.0.0.0/1000")),
        ("10.0.0.0/8 ", .malformed("10.0.0.0/8 ")),
        (" 10.0.0.0/8", .malformed(" 10.0.0.0/8")),
        ("10.0.0/8", .malformed("10.0.0/8")),
        ("junk/8", .malformed("junk/8")),
        ("", .malformed("")),
        ("10.0.0.0/٨", .malformed("10.0.0.0/٨")),
    ])
    func aBadSubnetIsRefusedWithItsReason(text: String, error: SubnetError) {
        #expect(throws: error) { try Subnet(text) }
    }

    @Test func containsOverlapsSizeAndBroadcast() throws {
        let s = try Subnet("10.10.10.0/24")
        #expect(s.contains(ip("10.10.10.0")) && s.contains(ip("10.10.10.255")))
        #expect(!s.contains(ip("10.10.11.0")) && !s.contains(ip("10.10.9.255")) && !s.contains(ip("::a0a:a00")))
        #expect(s.size == 256 && s.broadcast == ip("10.10.10.255") && s.isIPv4)
        #expect(try Subnet("0.0.0.0/0").size == 1 << 32)
        #expect(try Subnet("0.0.0.0/0").broadcast == ip("255.255.255.255"))
        #expect(try Subnet("10.0.0.7/32").size == 1)
        #expect(try Subnet("10.0.0.7/32").broadcast == ip("10.0.0.7"))
        let v6 = try Subnet("fd00::/64")
        #expect(v6.size == nil && v6.broadcast == nil && !v6.isIPv4)
        #expect(v6.contains(ip("fd00::ffff:ffff:ffff:ffff")) && !v6.contains(ip("fd00:0:0:1::")) && !v6.contains(ip("10.0.0.1")))
        #expect(try Subnet("::/0").contains(ip("ffff::1")))

        #expect(s.overlaps(subnet("10.0.0.0/8")) && subnet("10.0.0.0/8").overlaps(s))
        #expect(s.overlaps(subnet("10.10.10.128/25")) && s.overlaps(s))
        #expect(!s.overlaps(subnet("10.10.11.0/24")) && !s.overlaps(subnet("::/0")))
        #expect(v6.overlaps(subnet("fd00::/16")) && !v6.overlaps(subnet("fd00:0:0:1::/64")))
    }

    /// Random subnets of both families: the text round-trips, the block holds its first and
    /// last address and nothing just outside, and overlap is what containment says.
    @Test(arguments: 0..<20 as Range<UInt64>)
    func randomSubnetsBehave(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        for _ in 0..<500 {
            let v4 = Bool.random(using: &rng)
            let prefix = Int.random(in: 0...(v4 ? 32 : 128), using: &rng)
            let raw: IPAddress = v4 ? .v4(UInt32.random(in: 0...UInt32.max, using: &rng))
                : .v6(UInt64.random(in: 0...UInt64.max, using: &rng), UInt64.random(in: 0...UInt64.max, using: &rng))
            let s = try Subnet(base: raw.masked(to: prefix), prefix: prefix)
            #expect(try Subnet(s.description) == s, "seed \(seed): \(s)")
            #expect(s.contains(raw), "seed \(seed): \(s) \(raw)")
            if raw != s.base { #expect(throws: SubnetError.hostBitsSet) { try Subnet(base: raw, prefix: prefix) } }
            if case .v4(let b) = s.base, let size = s.size {
                let last = UInt32(UInt64(b) + size - 1)
                #expect(s.broadcast == .v4(last) && s.contains(.v4(last)), "seed \(seed): \(s)")
                if last < .max { #expect(!s.contains(.v4(last + 1)), "seed \(seed): \(s)") }
                if b > 0 { #expect(!s.contains(.v4(b - 1)), "seed \(seed): \(s)") }
            }
            let other = try Subnet(base: raw.masked(to: prefix / 2), prefix: prefix / 2)
            #expect(s.overlaps(other) && other.overlaps(s), "seed \(seed): \(s) \(other)")
        }
    }
}

@Suite struct AddressBlocksTests {
    func blocks(_ cidr: String) throws -> AddressBlocks { try #require(AddressBlocks(subnet(cidr))) }

    @Test(arguments: [
        ("10.10.10.0/24", UInt32(16), UInt32(16)),
        ("10.10.10.0/28", 16, 1),
        ("10.10.10.8/29", 8, 1),
        ("10.10.10.4/30", 4, 1),
        ("10.10.0.0/16", 16, 4096),
        ("10.0.0.0/8", 16, 1 << 20),
        ("0.0.0.0/0", 16, 1 << 28),
    ])
    func blockSizeAndCount(cidr: String, size: UInt32, count: UInt32) throws {
        let b = try blocks(cidr)
        #expect(b.blockSize == size && b.count == count)
        let s = subnet(cidr)
        guard case .v4(let base) = s.base, case .v4(let broadcast)? = s.broadcast else { Issue.record("IPv4"); return }
        #expect(b.addresses(in: 0) == base...(base + size - 1))
        #expect(b.addresses(in: count - 1)?.upperBound == broadcast, "the last block ends at the broadcast address")
        #expect(b.addresses(in: count) == nil && b.addresses(in: .max) == nil)
        #expect(b.index(of: s.base) == 0 && b.index(of: .v4(broadcast)) == count - 1)
        #expect(b.gateway == .v4(base + 1))
        #expect(b.isReserved(base) && b.isReserved(base + 1) && b.isReserved(broadcast) && !b.isReserved(base + 2))
        #expect(b.firstChoice(for: "host-a") < count)
    }

    @Test func aSlash24() throws {
        let b = try blocks("10.10.10.0/24")
        #expect(b.index(of: ip("10.10.10.17")) == 1 && b.index(of: ip("10.10.10.15")) == 0)
        #expect(b.index(of: ip("10.10.11.0")) == nil && b.index(of: ip("fd00::1")) == nil)
        #expect(b.addresses(in: 15) == 0x0A0A_0AF0...0x0A0A_0AFF)
        #expect(b.nextFreeAddress(in: [0], excluding: { _ in false }) == ip("10.10.10.2"))
        #expect(b.nextFreeAddress(in: [15], excluding: { $0 < 0x0A0A_0AFF }) == nil, "only the broadcast address is left")
        #expect(b.nextFreeAddress(in: [3, 1], excluding: { _ in false }) == ip("10.10.10.16"), "blocks in increasing order")
        #expect(b.nextFreeAddress(in: [99, 2], excluding: { _ in false }) == ip("10.10.10.32"), "blocks past the end skipped")
        #expect(b.nextFreeAddress(in: [], excluding: { _ in false }) == nil)
    }

    @Test func tooSmallAndIPv6SubnetsHaveNoBlocks() {
        #expect(AddressBlocks(subnet("10.0.0.0/31")) == nil)
        #expect(AddressBlocks(subnet("10.0.0.0/32")) == nil)
        #expect(AddressBlocks(subnet("fd00::/64")) == nil)
    }

    /// Handing out every address of every block, one at a time: every address but the three
    /// reserved ones, each once, in increasing order.
    @Test(arguments: ["10.10.10.0/24", "10.10.10.0/28", "10.10.10.8/29", "10.10.10.4/30", "192.168.0.0/22"])
    func everyAddressButTheReservedOnesIsHandedOutOnce(cidr: String) throws {
        let b = try blocks(cidr)
        var handed: [UInt32] = []
        var taken = Set<UInt32>()
        let all = Array(0..<b.count)
        while let next = b.nextFreeAddress(in: all, excluding: { taken.contains($0) }) {
            guard case .v4(let v) = next else { Issue.record("an IPv4 address"); return }
            #expect(!b.isReserved(v) && subnet(cidr).contains(next))
            handed.append(v)
            taken.insert(v)
        }
        #expect(handed == handed.sorted() && Set(handed).count == handed.count)
        #expect(UInt64(handed.count) == subnet(cidr).size! - 3)
    }

    @Test func aSlash8IsComputedNotListed() throws {
        let b = try blocks("10.0.0.0/8")
        let last = b.count - 1
        // One block free, at the far end from the first choice: the scan visits every block once.
        let free = (b.firstChoice(for: "host-a") + last) % b.count
        var calls = 0
        #expect(b.nextFreeBlock(for: "host-a", taken: { calls += 1; return $0 != free }) == free)
        #expect(calls == Int(b.count))
        #expect(b.nextFreeAddress(in: [last], excluding: { _ in false }) == ip("10.255.255.240"))
        #expect(b.index(of: ip("10.255.255.255")) == last)
        #expect(b.nextFreeBlock(for: "host-a", taken: { _ in true }) == nil)
    }

    @Test func theFirstChoiceIsAStableHashOfTheName() throws {
        // FNV-1a 64 of "host-a" is 7420691336939511205, fixed forever (unlike Swift's Hasher).
        #expect(try blocks("10.10.10.0/24").firstChoice(for: "host-a") == 5)
        #expect(try blocks("10.0.0.0/8").firstChoice(for: "host-a") == 597_413)
        #expect(try blocks("10.10.10.8/29").firstChoice(for: "host-a") == 0)
        // Spread: sixteen hosts on sixteen blocks mostly start apart.
        let b = try blocks("10.10.10.0/24")
        #expect(Set((0..<16).map { b.firstChoice(for: "host-\($0)") }).count == 10)
    }

    @Test func theScanStartsAtTheFirstChoiceAndWraps() throws {
        let b = try blocks("10.10.10.0/24")
        #expect(b.nextFreeBlock(for: "host-a", taken: { _ in false }) == 5)
        #expect(b.nextFreeBlock(for: "host-a", taken: { $0 >= 5 }) == 0)
        #expect(b.nextFreeBlock(for: "host-a", taken: { $0 != 4 }) == 4)
    }
}
