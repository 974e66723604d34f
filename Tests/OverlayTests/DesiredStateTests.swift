import Addresses
import Testing
@testable import Overlay

@Suite struct DesiredStateTests {
    let red = vni(100)
    let blue = vni(200)

    func host(_ name: String, _ vtep: String, _ networks: Set<VNI>, live: Bool = true) -> Replica.HostState {
        Replica.HostState(host: Host(name: name, vtep: ip(vtep), networks: networks), live: live)
    }

    func endpoint(_ owner: String, _ network: VNI, _ m: String, _ address: String? = nil, at time: UInt64 = 1) -> Endpoint {
        Endpoint(network: network, mac: mac(m), ipv4: address.map(ip), claim: Claim(time: time, owner: owner))
    }

    @Test func eachNetworkGetsAFloodRowPerOtherLiveHostAndARowPerRemoteEndpoint() {
        let a = Host(name: "a", vtep: ip("192.168.0.1"), networks: [red])
        let replica = Replica(
            hosts: [host("a", "192.168.0.1", [red]), host("b", "192.168.0.2", [red, blue]),
                    host("c", "192.168.0.3", [red], live: false), host("d", "192.168.0.4", [blue]),
                    host("e", "192.168.0.5", [])],
            endpoints: [endpoint("a", red, "02:00:00:00:00:0a", "10.0.0.10"),
                        endpoint("b", red, "02:00:00:00:00:0b", "10.0.0.11"),
                        endpoint("b", blue, "02:00:00:00:00:1b", "10.1.0.11"),
                        endpoint("c", red, "02:00:00:00:00:0c", "10.0.0.12"),
                        endpoint("e", red, "02:00:00:00:00:0e")])
        let state = DesiredState(for: a, from: replica)
        #expect(Array(state.networks.keys) == [red], "a takes part in red only")
        #expect(state.networks[red] == NetworkRows(
            flood: [ip("192.168.0.2"), ip("192.168.0.5")],
            unicast: [mac("02:00:00:00:00:0b"): ip("192.168.0.2"), mac("02:00:00:00:00:0e"): ip("192.168.0.5")],
            neighbors: [ip("10.0.0.11"): mac("02:00:00:00:00:0b")]))
        #expect(state.conflicts.isEmpty && state.problems.isEmpty)
    }

    @Test func aMACThatMovedGoesToTheNewestClaimOnEveryHostAndTheConflictIsReported() {
        let hosts = [host("a", "192.168.0.1", [red]), host("b", "192.168.0.2", [red]), host("c", "192.168.0.3", [red])]
        let replica = Replica(hosts: hosts, endpoints: [
            endpoint("a", red, "02:00:00:00:00:01", "10.0.0.1", at: 5),
            endpoint("b", red, "02:00:00:00:00:01", "10.0.0.1", at: 7),
        ])
        for h in hosts where h.host.name != "b" {
            let state = DesiredState(for: h.host, from: replica)
            #expect(state.networks[red]?.unicast[mac("02:00:00:00:00:01")] == ip("192.168.0.2"), "on \(h.host.name)")
            #expect(state.conflicts.map(\.winner) == [Claim(time: 7, owner: "b")], "a's endpoint lost its MAC, so its IP is not in conflict")
        }
        let onB = DesiredState(for: hosts[1].host, from: replica)
        #expect(onB.networks[red]?.unicast.isEmpty == true, "b's own endpoint sits on its bridge")
    }

    @Test func equalTimesAreBrokenByTheOwnersName() {
        let replica = Replica(hosts: [host("a", "192.168.0.1", [red]), host("b", "192.168.0.2", [red]),
                                      host("c", "192.168.0.3", [red])],
                              endpoints: [endpoint("b", red, "02:00:00:00:00:01", at: 3),
                                          endpoint("a", red, "02:00:00:00:00:01", at: 3)])
        let state = DesiredState(for: Host(name: "c", vtep: ip("192.168.0.3"), networks: [red]), from: replica)
        #expect(state.networks[red]?.unicast[mac("02:00:00:00:00:01")] == ip("192.168.0.2"))
    }

    @Test func aFailedHostsClaimIsSetAsideUntilItIsLiveAgain() {
        let c = Host(name: "c", vtep: ip("192.168.0.3"), networks: [red])
        var replica = Replica(hosts: [host("a", "192.168.0.1", [red]), host("b", "192.168.0.2", [red], live: false)],
                              endpoints: [endpoint("a", red, "02:00:00:00:00:01", "10.0.0.1", at: 1),
                                          endpoint("b", red, "02:00:00:00:00:01", "10.0.0.1", at: 2)])
        var state = DesiredState(for: c, from: replica)
        #expect(state.networks[red] == NetworkRows(flood: [ip("192.168.0.1")],
                                                   unicast: [mac("02:00:00:00:00:01"): ip("192.168.0.1")],
                                                   neighbors: [ip("10.0.0.1"): mac("02:00:00:00:00:01")]))
        replica.hosts["b"]!.live = true
        state = DesiredState(for: c, from: replica)
        #expect(state.networks[red]?.unicast[mac("02:00:00:00:00:01")] == ip("192.168.0.2"))
    }

    @Test func anIPClaimedWithTwoMACsPointsAtTheNewerAndTheLoserOfAMACKeepsNoNeighbourRow() {
        let c = Host(name: "c", vtep: ip("192.168.0.3"), networks: [red])
        let replica = Replica(hosts: [host("a", "192.168.0.1", [red]), host("b", "192.168.0.2", [red])], endpoints: [
            endpoint("a", red, "02:00:00:00:00:01", "10.0.0.1", at: 4),
            endpoint("b", red, "02:00:00:00:00:02", "10.0.0.1", at: 9),
            // b's later claim on a's MAC takes the MAC, and a's IP 10.0.0.7 with it.
            endpoint("a", red, "02:00:00:00:00:03", "10.0.0.7", at: 2),
            endpoint("b", red, "02:00:00:00:00:03", at: 3),
        ])
        let rows = DesiredState(for: c, from: replica).networks[red]
        #expect(rows?.unicast == [mac("02:00:00:00:00:01"): ip("192.168.0.1"), mac("02:00:00:00:00:02"): ip("192.168.0.2"),
                                  mac("02:00:00:00:00:03"): ip("192.168.0.2")])
        #expect(rows?.neighbors == [ip("10.0.0.1"): mac("02:00:00:00:00:02")])
    }

    @Test func hostsItCannotProgramAreReported() {
        let a = Host(name: "a", vtep: ip("192.168.0.1"), networks: [red])
        let replica = Replica(hosts: [host("v6", "fd00::2", [red])],
                              endpoints: [endpoint("ghost", red, "02:00:00:00:00:01"), endpoint("v6", red, "02:00:00:00:00:02")])
        let state = DesiredState(for: a, from: replica)
        #expect(state.problems == [.ownerWithoutHost("ghost"), .underlayFamilyMismatch(host: "v6", vtep: ip("fd00::2"))])
        #expect(state.networks[red] == NetworkRows())
    }

    @Test func anIPv6UnderlayWorksLikeAnIPv4One() {
        let a = Host(name: "a", vtep: ip("fd00::1"), networks: [red])
        let replica = Replica(hosts: [host("b", "fd00::2", [red])],
                              endpoints: [Endpoint(network: red, mac: mac("02:00:00:00:00:02"), ipv4: ip("10.0.0.2"),
                                                   ipv6: ip("fd10::2"), claim: Claim(time: 1, owner: "b"))])
        #expect(DesiredState(for: a, from: replica).networks[red] == NetworkRows(
            flood: [ip("fd00::2")], unicast: [mac("02:00:00:00:00:02"): ip("fd00::2")],
            neighbors: [ip("10.0.0.2"): mac("02:00:00:00:00:02"), ip("fd10::2"): mac("02:00:00:00:00:02")]))
    }

    /// The rules written the slow, obvious way, as the oracle for random replicas.
    func oracle(for local: Host, _ replica: Replica) -> [VNI: NetworkRows] {
        func usable(_ owner: String) -> Host? {
            if owner == local.name { return local }
            guard let s = replica.hosts[owner], s.live, s.host.vtep.family == local.vtep.family else { return nil }
            return s.host
        }
        var result: [VNI: NetworkRows] = [:]
        for network in local.networks {
            var rows = NetworkRows()
            let live = replica.endpoints.values.filter { $0.network == network && usable($0.owner) != nil }
            let macWinners = live.filter { e in !live.contains { $0.mac == e.mac && $0.supersedes(e) } }
            for e in macWinners where e.owner != local.name { rows.unicast[e.mac] = usable(e.owner)!.vtep }
            for e in macWinners {
                for a in e.ips where !macWinners.contains(where: { $0.ips.contains(a) && $0.supersedes(e) }) {
                    if e.owner != local.name { rows.neighbors[a] = e.mac }
                }
            }
            for (name, s) in replica.hosts where name != local.name && usable(name) != nil {
                if s.host.networks.contains(network) || live.contains(where: { $0.owner == name }) {
                    rows.flood.insert(s.host.vtep)
                }
            }
            rows.flood.remove(local.vtep)
            result[network] = rows
        }
        return result
    }

    @Test(arguments: 0..<200 as Range<UInt64>)
    func randomReplicasGiveWhatTheOracleGivesOnEveryHost(seed: UInt64) {
        var random = RandomOverlay(seed: seed)
        let replica = random.replica(hosts: 6, endpoints: 30)
        for (_, state) in replica.hosts {
            let local = state.host
            #expect(DesiredState(for: local, from: replica).networks == oracle(for: local, replica), "seed \(seed), host \(local.name)")
        }
    }

    @Test(arguments: 0..<50 as Range<UInt64>)
    func theOrderRowsArriveInChangesNothing(seed: UInt64) {
        var random = RandomOverlay(seed: seed)
        let replica = random.replica(hosts: 6, endpoints: 30)
        let local = replica.hosts["h0"]!.host
        let before = DesiredState(for: local, from: replica)
        let shuffled = Replica(hosts: Array(replica.hosts.values).shuffled(using: &random.rng),
                               endpoints: Array(replica.endpoints.values).shuffled(using: &random.rng))
        #expect(DesiredState(for: local, from: shuffled) == before, "seed \(seed)")
    }
}
