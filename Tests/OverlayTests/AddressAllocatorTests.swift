import Addresses
import Testing
@testable import Overlay

@Suite struct AddressAllocatorTests {
    static func pool(_ subnet: String, range: String? = nil, gateway: String? = nil, aux: [String] = []) -> AddressPool {
        try! AddressPool(subnet: Subnet(subnet), ipRange: range.map { try! Subnet($0) }, gateway: gateway.map(ip),
                         auxAddresses: aux.map(ip))
    }

    /// Two allocators wired directly: every published row reaches the other at once.
    struct Pair {
        var a: AddressAllocator
        var b: AddressAllocator
        var answers: [AllocatorOutput] = []

        init(pool: AddressPool) {
            a = AddressAllocator(host: "a", pool: pool)
            b = AddressAllocator(host: "b", pool: pool)
            _ = a.handle(.members(alive: ["a", "b"], now: 0))
            _ = b.handle(.members(alive: ["a", "b"], now: 0))
            send(fromA: true, a.handle(.create))
        }

        /// Hands `out`, what a (`fromA`) or b answered, on: rows to the other, answers kept.
        mutating func send(fromA: Bool, _ out: [AllocatorOutput]) {
            for o in out {
                if case .publish(let row) = o {
                    let next = fromA ? b.handle(.merge(row)) : a.handle(.merge(row))
                    send(fromA: !fromA, next)
                } else {
                    answers.append(o)
                }
            }
        }
    }

    @Test func theCreatorOwnsTheWholePoolAndLeasesLocally() {
        var a = AddressAllocator(host: "a", pool: Self.pool("10.0.0.0/28", gateway: "10.0.0.1"))
        _ = a.handle(.create)
        #expect(a.row.owned == [OffsetSpan(0, 16)])
        let out = a.handle(.request(id: "c1", address: nil, now: 0))
        #expect(out.contains(.leased(id: "c1", address: ip("10.0.0.2"))))
    }

    @Test func reservedAddressesAreNeverHandedOut() {
        var a = AddressAllocator(host: "a", pool: Self.pool("10.0.0.0/29", gateway: "10.0.0.1", aux: ["10.0.0.3"]))
        _ = a.handle(.create)
        var got: [IPAddress] = []
        for n in 0..<10 {
            for case .leased(_, let address) in a.handle(.request(id: "c\(n)", address: nil, now: 0)) { got.append(address) }
        }
        #expect(got == ["10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"].map(ip))
        #expect(a.handle(.request(id: "x", address: ip("10.0.0.1"), now: 0)) == [.refused(id: "x", .notLeasable(ip("10.0.0.1")))])
        #expect(a.handle(.request(id: "y", address: ip("10.0.0.7"), now: 0)) == [.refused(id: "y", .notLeasable(ip("10.0.0.7")))])
    }

    @Test func ipRangeLimitsAllocationButNotAnAddressAskedFor() {
        var a = AddressAllocator(host: "a", pool: Self.pool("10.0.0.0/24", range: "10.0.0.128/30"))
        _ = a.handle(.create)
        var got: [IPAddress] = []
        for n in 0..<6 {
            for case .leased(_, let address) in a.handle(.request(id: "c\(n)", address: nil, now: 0)) { got.append(address) }
        }
        #expect(got == ["10.0.0.128", "10.0.0.129", "10.0.0.130", "10.0.0.131"].map(ip))
        #expect(a.handle(.request(id: "x", address: ip("10.0.0.9"), now: 0)).contains(.leased(id: "x", address: ip("10.0.0.9"))))
    }

    @Test(arguments: ["fd00:10::/64", "fd00:10::/120"])
    func ipv6PoolsLease(subnet: String) {
        var p = Pair(pool: Self.pool(subnet))
        p.send(fromA: false, p.b.handle(.request(id: "c1", address: nil, now: 0)))
        p.send(fromA: true, p.a.handle(.request(id: "c2", address: nil, now: 0)))
        let leased = p.answers.compactMap { if case .leased(_, let a) = $0 { a } else { nil } }
        #expect(leased.count == 2)
        #expect(Set(leased).count == 2)
        #expect(leased.allSatisfy { try! Subnet(subnet).contains($0) })
    }

    @Test func aHostWithoutSpaceGetsADonationFromTheOwner() {
        var p = Pair(pool: Self.pool("10.0.0.0/24"))
        p.send(fromA: false, p.b.handle(.request(id: "c1", address: nil, now: 0)))
        #expect(p.answers.contains(.leased(id: "c1", address: ip("10.0.0.128"))))
        #expect(p.b.row.owned == [OffsetSpan(128, 256)])
        #expect(p.a.row.owned == [OffsetSpan(0, 128)])
        #expect(p.a.row.donations.isEmpty, "acknowledged donations are dropped")
        #expect(p.b.row.successor == "a")
    }

    @Test func anAddressLeasedElsewhereIsRefusedAndAFreeOneIsTakenFromItsOwner() {
        var p = Pair(pool: Self.pool("10.0.0.0/24"))
        p.send(fromA: true, p.a.handle(.request(id: "c1", address: ip("10.0.0.20"), now: 0)))
        p.send(fromA: false, p.b.handle(.request(id: "c2", address: ip("10.0.0.20"), now: 0)))
        #expect(p.answers.contains(.refused(id: "c2", .inUse(ip("10.0.0.20"), owner: "a"))))
        p.send(fromA: false, p.b.handle(.request(id: "c3", address: ip("10.0.0.21"), now: 0)))
        // Known failing when committed: the single-address donation does not come back to b.
        withKnownIssue("--ip of a free address owned by another host is not yet served") {
            #expect(p.answers.contains(.leased(id: "c3", address: ip("10.0.0.21"))))
            #expect(p.b.row.owned == [OffsetSpan(21, 22)])
        }
    }

    @Test func aFullSubnetIsRefusedWithItsReason() {
        var p = Pair(pool: Self.pool("10.0.0.0/30"))
        p.send(fromA: true, p.a.handle(.request(id: "c1", address: nil, now: 0)))
        p.send(fromA: true, p.a.handle(.request(id: "c2", address: nil, now: 0)))
        p.send(fromA: false, p.b.handle(.request(id: "c3", address: nil, now: 0)))
        #expect(p.answers.contains(.leased(id: "c2", address: ip("10.0.0.2"))))
        #expect(p.answers.contains(.refused(id: "c3", .subnetFull)))
    }

    @Test func reclaimIsRefusedWhileAliveAndToAnyoneButTheSuccessor() {
        var p = Pair(pool: Self.pool("10.0.0.0/24"))
        p.send(fromA: false, p.b.handle(.request(id: "c1", address: nil, now: 0)))
        #expect(p.a.reclaimer(of: "b") == "a")
        #expect(p.a.handle(.reclaim(host: "b", now: 10)) == [.reclaimRefused(host: "b", .stillAlive(host: "b"))])
        _ = p.a.handle(.members(alive: ["a"], now: 100))
        #expect(p.a.handle(.reclaim(host: "b", now: 200)) == [.reclaimRefused(host: "b", .stillAlive(host: "b"))])
        var c = AddressAllocator(host: "c", pool: p.a.pool)
        _ = c.handle(.merge(p.b.row))
        #expect(c.handle(.reclaim(host: "b", now: 1_000_000_000)) == [.reclaimRefused(host: "b", .notReclaimer(host: "b", reclaimer: "a"))])
        let out = p.a.handle(.reclaim(host: "b", now: 100 + p.a.reclaimAfter))
        #expect(out.count == 1)
        #expect(p.a.row.owned == [OffsetSpan(0, 256)])
        #expect(p.a.row.reclaimed["b"] != nil)
    }

    @Test func aLeavingHostHandsEverythingOn() {
        var p = Pair(pool: Self.pool("10.0.0.0/24"))
        p.send(fromA: false, p.b.handle(.request(id: "c1", address: nil, now: 0)))
        p.send(fromA: false, p.b.handle(.leave(to: "a")))
        #expect(p.a.row.owned == [OffsetSpan(0, 256)])
        #expect(p.b.row.owned.isEmpty && p.b.row.leases.isEmpty && p.b.row.donations.isEmpty)
    }

    @Test(arguments: [("10.0.0.0/24", 8), ("fd00:20::/120", 8), ("10.0.0.0/28", 5), ("10.0.0.0/24", 100)],
          0..<4 as Range<UInt64>)
    func noAddressHasTwoOwnersOrTwoLeasesAndNoneIsStranded(network: (String, Int), seed: UInt64) {
        let pool = Self.pool(network.0, gateway: network.0.contains(":") ? nil : String(network.0.dropLast(4)) + "1")
        var cluster = AllocatorCluster(hosts: network.1, pool: pool, seed: seed &* 7919 &+ UInt64(network.1))
        let steps = network.1 >= 100 ? 1_500 : 3_000
        for _ in 0..<steps {
            cluster.step()
            if !cluster.violations.isEmpty { break }
        }
        #expect(cluster.violations == [])
        #expect(cluster.leasedCount > 0)
        cluster.makeWhole()
        #expect(cluster.violations == [])
        // Known failing when committed: after lost rows, reclaim does not yet bring every
        // range back (a lost identity's last row may reach no one; see Docs/OVERLAY.md).
        withKnownIssue("no address is stranded: not yet met after rows are lost", isIntermittent: true) {
            #expect(cluster.unowned == [], "every address has a live owner once the cluster is whole")
        }
        // Every free address can be had: one host asks until the pool is full.
        let free = cluster.freeAllocatable.count
        let asker = cluster.upIndices.last!
        let before = cluster.leasedCount
        for _ in 0..<free + 1 {
            cluster.request(at: asker, address: nil)
            cluster.quiesce(resend: false)
        }
        #expect(cluster.violations == [])
        withKnownIssue("no address is stranded: not yet met after rows are lost", isIntermittent: true) {
            #expect(cluster.leasedCount - before == free)
            #expect(cluster.freeAllocatable == [])
        }
    }
}

