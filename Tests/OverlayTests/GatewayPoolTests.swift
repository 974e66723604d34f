import Addresses
import Testing
@testable import Overlay

/// `--gateway` anywhere in the subnet (issue 21): reserved in the pool on every host that reads
/// the pool, never handed out, and refused where it cannot be a gateway.
@Suite struct GatewayPoolTests {
    /// Every address one allocator hands out of `pool` until it refuses.
    static func everyLease(_ pool: AddressPool) -> (leased: [IPAddress], last: [AllocatorOutput]) {
        var a = AddressAllocator(host: "a", pool: pool)
        _ = a.handle(.create)
        var got: [IPAddress] = []
        for n in 0..<300 {
            let out = a.handle(.request(id: "c\(n)", address: nil, now: 0))
            guard case .leased(_, let address)? = out.last else { return (got, out) }
            got.append(address)
        }
        return (got, [])
    }

    @Test(arguments: ["10.0.0.6", "10.0.0.3", "10.0.0.1"])
    func aGatewayAnywhereInAFullSlash29IsSkipped(gateway: String) throws {
        let pool = try AddressPool(subnet: Subnet("10.0.0.0/29"), gateway: ip(gateway))
        let (leased, last) = Self.everyLease(pool)
        // Six usable addresses, the gateway aside: five leases, then "full".
        #expect(Set(leased) == Set((1...6).map { ip("10.0.0.\($0)") }).subtracting([ip(gateway)]))
        #expect(leased.count == 5)
        #expect(last == [.refused(id: "c5", .subnetFull)])
        var a = AddressAllocator(host: "a", pool: pool)
        _ = a.handle(.create)
        #expect(a.handle(.request(id: "x", address: ip(gateway), now: 0)) == [.refused(id: "x", .notLeasable(ip(gateway)))])
    }

    @Test(arguments: ["fd00:9::ff", "fd00:9::80"])
    func anIPv6GatewayAnywhereInTheSpanIsSkipped(gateway: String) throws {
        let pool = try AddressPool(subnet: Subnet("fd00:9::/120"), gateway: ip(gateway))
        let (leased, last) = Self.everyLease(pool)
        // 256 offsets: offset 0 and the gateway aside (IPv6 has no broadcast).
        #expect(leased.count == 254 && !leased.contains(ip(gateway)) && leased.contains(ip("fd00:9::1")))
        #expect(last == [.refused(id: "c254", .subnetFull)])
    }

    @Test(arguments: [
        ("10.0.0.0/24", "10.0.0.0", AddressPoolError.gatewayReserved(ip("10.0.0.0"))),
        ("10.0.0.0/24", "10.0.0.255", .gatewayReserved(ip("10.0.0.255"))),
        ("10.0.0.0/24", "10.0.1.1", .outsideSubnet(ip("10.0.1.1"))),
        ("fd00::/64", "fd00::", .gatewayReserved(ip("fd00::"))),
        ("fd00::/64", "fd00::1:0:0", .outsideSpan(ip("fd00::1:0:0"))),
    ])
    func aGatewayThatCannotBeOneIsRefused(subnet: String, gateway: String, error: AddressPoolError) throws {
        #expect(throws: error) { try AddressPool(subnet: Subnet(subnet), gateway: ip(gateway)) }
        let problem = NetworkDefinition.gatewayProblem(ip(gateway), of: try Subnet(subnet))
        #expect(problem != nil)
    }

    @Test func anAuxAddressThatIsTheGatewayIsRefused() throws {
        #expect(throws: AddressPoolError.auxIsGateway(ip("10.0.0.9"))) {
            try AddressPool(subnet: Subnet("10.0.0.0/24"), gateway: ip("10.0.0.9"), auxAddresses: [ip("10.0.0.9")])
        }
        // Docker asks for the gateway before the aux addresses: a pool with both apart is fine.
        let pool = try AddressPool(subnet: Subnet("10.0.0.0/24"), gateway: ip("10.0.0.9"), auxAddresses: [ip("10.0.0.1")])
        #expect(pool.reserved == [0, 255, 9, 1])
    }

    @Test func theChosenGatewayRidesInEveryAllocatorRow() throws {
        let pool = PoolDefinition(subnet: try Subnet("10.0.0.0/29"), gateway: ip("10.0.0.6"))
        var a = AddressAllocator(host: "h~1", pool: try pool.pool())
        guard case .publish(let row)? = a.handle(.create).first else { Issue.record("no row"); return }
        let record = AllocatorRecord(vni: vni(5), incarnation: 1, pool: pool, row: row)
        let overlayRow = OverlayRow.allocator(record)
        guard case .allocator(let back) = try OverlayRow(key: overlayRow.key, value: overlayRow.value(), owner: "h") else {
            Issue.record("not an allocator row"); return
        }
        #expect(back.pool.gateway == ip("10.0.0.6"))
        // Another host's allocator made from the row reserves the same gateway.
        #expect(try back.pool.pool().reserved.contains(6))
    }
}
