import struct GrapevineTestSupport.SplitMix
import Addresses
import Testing
@testable import Overlay

/// IPv6 pools: the managed span (the first 2³² addresses of the subnet), its edges, and the
/// allocator's invariants on /64 and /48 subnets, whose addresses no offset could count.
@Suite struct IPv6PoolTests {
    static func pool(_ subnet: String, range: String? = nil, gateway: String? = nil, aux: [String] = []) throws -> AddressPool {
        try AddressPool(subnet: Subnet(subnet), ipRange: range.map { try! Subnet($0) }, gateway: gateway.map(ip),
                        auxAddresses: aux.map(ip))
    }

    /// (subnet, offsets managed, the last managed address)
    @Test(arguments: [
        ("fd00:10::/64", UInt64(1) << 32, "fd00:10::ffff:ffff"),
        ("fd00:10::/48", UInt64(1) << 32, "fd00:10::ffff:ffff"),
        ("fd00:10::/96", UInt64(1) << 32, "fd00:10::ffff:ffff"),
        ("fd00:10::ff00/120", 256, "fd00:10::ffff"),
        ("fd00:10::/126", 4, "fd00:10::3"),
    ])
    func theManagedSpanIsTheSubnetsStartAndOffsetsRoundTrip(subnet: String, size: UInt64, last: String) throws {
        let p = try Self.pool(subnet)
        #expect(p.size == size)
        #expect(p.address(size - 1) == ip(last))
        #expect(p.offset(of: ip(last)) == size - 1)
        #expect(p.offset(of: p.subnet.base) == 0)
        #expect(!p.isAllocatable(0), "the subnet-router anycast address is never handed out")
        #expect(p.isAllocatable(size - 1), "IPv6 has no broadcast address")
        var rng = SplitMix(seed: size)
        for _ in 0..<100 {
            let o = UInt64.random(in: 0..<size, using: &rng)
            #expect(p.offset(of: p.address(o)) == o)
        }
    }

    @Test func addressesPastTheSpanOrOfTheOtherFamilyAreNotInThePool() throws {
        let p = try Self.pool("fd00:10::/64")
        #expect(p.offset(of: ip("fd00:10::1:0:0")) == nil)
        #expect(p.offset(of: ip("fd00:10:0:0:8000::1")) == nil)
        #expect(p.offset(of: ip("fd00:11::1")) == nil)
        #expect(p.offset(of: ip("10.0.0.1")) == nil)
        let wide = try Self.pool("fd00:10::/48")
        #expect(wide.offset(of: ip("fd00:10:0:1::1")) == nil, "another /64 of the /48: past the span")
    }

    @Test func gatewayAuxAndRangePastTheSpanAreRefusedNamingTheSpan() {
        #expect(throws: AddressPoolError.outsideSpan(ip("fd00:10::1:0:0:1"))) { try Self.pool("fd00:10::/64", gateway: "fd00:10::1:0:0:1") }
        #expect(throws: AddressPoolError.outsideSpan(ip("fd00:10::2:0:0"))) { try Self.pool("fd00:10::/64", aux: ["fd00:10::2:0:0"]) }
        #expect(throws: AddressPoolError.outsideSpan(ip("fd00:10::1:0:0"))) { try Self.pool("fd00:10::/64", range: "fd00:10::1:0:0/112") }
        #expect(throws: AddressPoolError.outsideSubnet(ip("10.0.0.1"))) { try Self.pool("fd00:10::/64", gateway: "10.0.0.1") }
        #expect(throws: AddressPoolError.rangeOutsideSubnet(subnet("10.0.0.0/24"))) { try Self.pool("fd00:10::/64", range: "10.0.0.0/24") }
        #expect(AddressPoolError.outsideSpan(ip("fd00:10::1:0:0:1")).description.contains("first 2^32 addresses"))
        #expect(throws: AddressPoolError.subnetTooSmall(subnet("fd00::/127"))) { try Self.pool("fd00::/127") }
    }

    @Test func anIPRangeBoundsAllocationInsideTheSpan() throws {
        let p = try Self.pool("fd00:10::/64", range: "fd00:10::100/120", gateway: "fd00:10::1")
        #expect(p.rangeLow == 0x100 && p.rangeHigh == 0x200)
        // A range wider than the span is cut at its end.
        let wide = try Self.pool("fd00:10::/48", range: "fd00:10::/56")
        #expect(wide.rangeLow == 0 && wide.rangeHigh == wide.size)
        var a = AddressAllocator(host: "a", pool: p)
        _ = a.handle(.create)
        var got: [IPAddress] = []
        for n in 0..<3 {
            for case .leased(_, let address) in a.handle(.request(id: "c\(n)", address: nil, now: 0)) { got.append(address) }
        }
        #expect(got == ["fd00:10::100", "fd00:10::101", "fd00:10::102"].map(ip))
    }

    @Test func theGatewayIsReservedAndAnAddressPastTheSpanIsRefused() throws {
        var a = AddressAllocator(host: "a", pool: try Self.pool("fd00:10::/64", gateway: "fd00:10::1", aux: ["fd00:10::2"]))
        _ = a.handle(.create)
        #expect(a.row.owned == [OffsetSpan(0, UInt64(1) << 32)])
        #expect(a.handle(.request(id: "c1", address: nil, now: 0)).contains(.leased(id: "c1", address: ip("fd00:10::3"))))
        #expect(a.handle(.request(id: "g", address: ip("fd00:10::1"), now: 0)) == [.refused(id: "g", .notLeasable(ip("fd00:10::1")))])
        let past = ip("fd00:10::1:0:0:5")
        #expect(a.handle(.request(id: "p", address: past, now: 0)) == [.refused(id: "p", .notLeasable(past))])
        #expect(AllocationRefusal.notLeasable(past).description.contains("first 2^32 addresses"))
        let last = ip("fd00:10::ffff:ffff")
        #expect(a.handle(.request(id: "l", address: last, now: 0)).contains(.leased(id: "l", address: last)))
    }

    /// The invariant on /64 and /48 pools, under the cluster model's partitions, crashes,
    /// restarts, leaves, loss and concurrent requests: no two live leases share an address, no
    /// two hosts own one, and once whole every address has a live owner. (Every free address
    /// being servable is shown on the /120 pool in `AddressAllocatorTests`: here there are 2³².)
    @Test(arguments: ["fd00:10::/64", "fd00:10::/48"], 0..<8 as Range<UInt64>)
    func noAddressIsGivenTwiceInALargeIPv6Pool(network: String, seed: UInt64) throws {
        let pool = try Self.pool(network, gateway: "fd00:10::1")
        var cluster = AllocatorCluster(hosts: 8, pool: pool, seed: seed &* 104_729 &+ 17)
        for _ in 0..<3_000 {
            cluster.step()
            if !cluster.violations.isEmpty { break }
        }
        #expect(cluster.violations == [])
        #expect(cluster.leasedCount > 0)
        cluster.makeWhole()
        #expect(cluster.violations == [])
        #expect(cluster.unowned == [], "every address has a live owner once the cluster is whole")
        // Every lease lies inside the managed span, so every leased address is in the subnet.
        for o in cluster.containers.keys {
            #expect(o < pool.size && pool.subnet.contains(pool.address(o)))
        }
        // A burst of requests on every live host after the heal: all leased, all distinct.
        let before = cluster.leasedCount
        for i in cluster.upIndices { for _ in 0..<3 { cluster.request(at: i, address: nil) } }
        cluster.quiesce(resend: false)
        #expect(cluster.violations == [])
        #expect(cluster.leasedCount - before == 3 * cluster.upIndices.count)
    }
}
