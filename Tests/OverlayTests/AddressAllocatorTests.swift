import struct GrapevineTestSupport.SplitMix
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
        #expect(p.answers.contains(.leased(id: "c3", address: ip("10.0.0.21"))))
        #expect(p.b.row.owned == [OffsetSpan(21, 22)])
        #expect(p.b.row.leases == [21])
        #expect(!Spans.contains(p.a.row.owned, 21))
    }

    @Test func aFullSubnetIsRefusedWithItsReason() {
        var p = Pair(pool: Self.pool("10.0.0.0/30"))
        p.send(fromA: true, p.a.handle(.request(id: "c1", address: nil, now: 0)))
        p.send(fromA: true, p.a.handle(.request(id: "c2", address: nil, now: 0)))
        p.send(fromA: false, p.b.handle(.request(id: "c3", address: nil, now: 0)))
        #expect(p.answers.contains(.leased(id: "c2", address: ip("10.0.0.2"))))
        #expect(p.answers.contains(.refused(id: "c3", .subnetFull)))
    }

    /// A host stops at its lease limit, for `--ip` too, with a reason naming the remedy; a
    /// release frees a place, and only the address released.
    @Test func aHostStopsAtItsLeaseLimitAndAReleaseFreesAPlace() {
        var a = AddressAllocator(host: "a", pool: Self.pool("10.0.0.0/24"))
        a.leaseLimit = 2
        _ = a.handle(.create)
        var answers: [AllocatorOutput] = []
        for (i, address) in [nil, nil, nil, ip("10.0.0.50")].enumerated() {
            answers += a.handle(.request(id: "c\(i)", address: address, now: 0)).filter { if case .publish = $0 { false } else { true } }
        }
        #expect(answers == [.leased(id: "c0", address: ip("10.0.0.1")), .leased(id: "c1", address: ip("10.0.0.2")),
                            .refused(id: "c2", .hostLeaseLimit), .refused(id: "c3", .hostLeaseLimit)])
        _ = a.handle(.release(address: ip("10.0.0.1")))
        _ = a.handle(.release(address: ip("10.0.0.9")))
        #expect(a.row.leases == [2], "only the released address went back")
        #expect(a.handle(.request(id: "c4", address: nil, now: 0)).contains(.leased(id: "c4", address: ip("10.0.0.1"))))
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
        #expect(p.b.row.owned.isEmpty && p.b.row.leases.isEmpty)
        // Its row is final: the donation stays listed, and a's mark says it was taken.
        #expect(p.b.row.donations.map(\.sequence) == [p.a.row.taken["b"]])
    }

    @Test func theOperatorMayReclaimAnyHostNotAliveInItsView() {
        var p = Pair(pool: Self.pool("10.0.0.0/24"))
        p.send(fromA: false, p.b.handle(.request(id: "c1", address: nil, now: 0)))
        var c = AddressAllocator(host: "c", pool: p.a.pool)
        _ = c.handle(.members(alive: ["b", "c"], now: 5))
        _ = c.handle(.merge(p.b.row))
        _ = c.handle(.merge(p.a.row))
        #expect(c.handle(.operatorReclaim(host: "b", now: 6)) == [.reclaimRefused(host: "b", .stillAlive(host: "b"))])
        _ = c.handle(.members(alive: ["c"], now: 7))
        // No period, not the named reclaimer: the operator's word is enough.
        let out = c.handle(.operatorReclaim(host: "b", now: 8))
        #expect(out.count == 1)
        #expect(c.row.owned == [OffsetSpan(128, 256)])
        #expect(c.actor(for: "b") == "c")
        #expect(c.handle(.operatorReclaim(host: "b", now: 9)) == [.reclaimRefused(host: "b", .notReclaimer(host: "b", reclaimer: "c"))])
        // The named reclaimer learns of it and does not reclaim again.
        _ = p.a.handle(.merge(c.row))
        _ = p.a.handle(.members(alive: ["a"], now: 10))
        #expect(p.a.handle(.reclaim(host: "b", now: 10 + p.a.reclaimAfter)) ==
                [.reclaimRefused(host: "b", .notReclaimer(host: "b", reclaimer: "c"))])
    }

    /// The reclaimer's copy of b predates b's donation of [192, 256) to c; c's row says so.
    @Test func reclaimLeavesOutWhatAnotherRowOwns() {
        let pool = Self.pool("10.0.0.0/24")
        var staleB = AllocatorRow(host: "b")
        staleB.version = 2
        staleB.owned = [OffsetSpan(128, 256)]
        staleB.successor = "a"
        var c = AllocatorRow(host: "c")
        c.version = 1
        c.owned = [OffsetSpan(192, 256)]
        c.taken = ["b": 1]
        c.successor = "b"
        var a = AddressAllocator(host: "a", pool: pool)
        _ = a.handle(.create)
        _ = a.handle(.members(alive: ["a", "b", "c"], now: 0))
        _ = a.handle(.merge(staleB))
        _ = a.handle(.merge(c))
        _ = a.handle(.members(alive: ["a", "c"], now: 1))
        a.row.owned = [OffsetSpan(0, 128)]
        _ = a.handle(.reclaim(host: "b", now: 1 + a.reclaimAfter))
        #expect(a.row.owned == [OffsetSpan(0, 192)])
        #expect(a.reclaimer(of: "c") == "a", "c's successor b is reclaimed by a")
    }

    @Test func reclaimWaitsForAHostUnreachableWithinThePeriod() {
        var p = Pair(pool: Self.pool("10.0.0.0/24"))
        p.send(fromA: false, p.b.handle(.request(id: "c1", address: nil, now: 0)))
        _ = p.a.handle(.merge(AllocatorRow(host: "d")))
        _ = p.a.handle(.members(alive: ["a", "b", "d"], now: 0))
        _ = p.a.handle(.members(alive: ["a", "d"], now: 10))
        _ = p.a.handle(.members(alive: ["a"], now: p.a.reclaimAfter))
        #expect(p.a.handle(.reclaim(host: "b", now: 10 + p.a.reclaimAfter)) ==
                [.reclaimRefused(host: "b", .waitingFor(host: "b", waitingFor: "d"))])
        #expect(p.a.handle(.reclaim(host: "b", now: 2 * p.a.reclaimAfter)).count == 1)
        #expect(p.a.row.owned == [OffsetSpan(0, 256)])
    }

    /// b asks a for space, then leaves before the donation reaches it: a, b's successor,
    /// takes the donation back in b's stead.
    @Test func aDonationToAHostThatLeftGoesToItsSuccessor() {
        var a = AddressAllocator(host: "a", pool: Self.pool("10.0.0.0/24"))
        var b = AddressAllocator(host: "b", pool: a.pool)
        _ = a.handle(.members(alive: ["a", "b"], now: 0))
        _ = b.handle(.members(alive: ["a", "b"], now: 0))
        for case .publish(let r) in a.handle(.create) { _ = b.handle(.merge(r)) }
        for case .publish(let r) in b.handle(.request(id: "c1", address: nil, now: 0)) { _ = a.handle(.merge(r)) }
        #expect(a.row.donations.count == 1)
        for case .publish(let r) in b.handle(.leave(to: "a")) { _ = a.handle(.merge(r)) }
        #expect(a.row.owned == [OffsetSpan(0, 256)])
        #expect(a.row.donations.isEmpty)
        #expect(b.handle(.merge(a.row)).isEmpty, "a host that left writes nothing more")
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
        #expect(cluster.unowned == [], "every address has a live owner once the cluster is whole")
        #expect(cluster.unservable == [])
        // Every free address can be had: one host asks until the pool is full.
        let free = cluster.freeAllocatable.count
        let asker = cluster.upIndices.last!
        let before = cluster.leasedCount
        for _ in 0..<free + 1 {
            cluster.request(at: asker, address: nil)
            cluster.quiesce(resend: false)
        }
        #expect(cluster.violations == [])
        #expect(cluster.leasedCount - before == free)
        #expect(cluster.freeAllocatable == [])
    }

    /// 1,000 hosts on a /16, fewer steps (every row goes to every host). At the end every free
    /// address is owned by a live host that can hand it out at once, and a sample of free
    /// addresses asked for by `--ip` from random hosts are all leased.
    @Test(arguments: 0..<3 as Range<UInt64>)
    func aThousandHosts(seed: UInt64) {
        let pool = Self.pool("10.1.0.0/16", gateway: "10.1.0.1")
        var cluster = AllocatorCluster(hosts: 1_000, pool: pool, seed: seed &+ 1_000_003)
        for _ in 0..<200 {
            cluster.step()
            if !cluster.violations.isEmpty { break }
        }
        #expect(cluster.violations == [])
        #expect(cluster.leasedCount > 0)
        cluster.makeWhole()
        #expect(cluster.violations == [])
        #expect(cluster.unowned == [])
        #expect(cluster.unservable == [])
        var rng = SplitMix(seed: seed)
        let free = cluster.freeAllocatable
        let before = cluster.leasedCount
        for _ in 0..<20 {
            let o = free.randomElement(using: &rng)!
            guard cluster.containers[o] == nil else { continue }
            cluster.request(at: cluster.upIndices.randomElement(using: &rng)!, address: pool.address(o))
            cluster.quiesce(resend: false)
            #expect(cluster.containers[o] != nil, "\(pool.address(o)) asked for by --ip is leased")
        }
        #expect(cluster.leasedCount > before)
        #expect(cluster.violations == [])
    }
}
