import Foundation
import GrapevineTestSupport
import Testing

/// The allocator of owned ranges with real dockerds (issue 21, "Must show"): a subnet's
/// every usable address runs a container and not one more, and Docker's IPAM options hold.
extension DockerEndToEndTests {
    /// `grapevine ipam --format json` as the test reads it.
    struct IPAMView: Decodable {
        struct Network: Decodable {
            var vni: UInt32
            var gateway: String?
            var auxAddresses: [String]
            var hosts: [Host]
        }
        struct Host: Decodable {
            var identity: String
            var leased: Int
            var free: UInt64
        }
        var networks: [Network]
    }

    static func ipam(_ cluster: TestCluster, _ host: Int, vni: UInt32) async throws -> IPAMView.Network? {
        let text = try await cluster.cli(host, "ipam", "--format", "json")
        return try JSONDecoder().decode(IPAMView.self, from: Data(text.utf8)).networks.first { $0.vni == vni }
    }

    /// A /28 has 13 addresses to hand out (16 less network, broadcast and gateway): 13
    /// containers started one by one over three hosts all run, the hosts handing each other
    /// space, and the 14th is refused with the reason and what to do.
    @Test func aSlash28RunsThirteenContainersOverTheHostsAndRefusesTheFourteenth() async throws {
        try await TestCluster.with(hosts: 3, networks: [:]) { cluster in
            try await Self.start(cluster, hosts: 1...3)
            try await Self.makeNetwork(cluster, on: 1, "tiny", subnet: "10.10.80.0/28", options: ["-o", "vni=380"], seenOn: Array(2...3))
            var boxes: [Box] = []
            try await Self.explained(cluster) {
                for i in 0..<13 { boxes.append(try await Self.runBox(cluster, i % 3 + 1, "t\(i)", network: "tiny")) }
            }
            let addresses = boxes.map(\.ip)
            #expect(Set(addresses).count == 13, "addresses given twice: \(addresses.sorted())")
            #expect(Set(addresses) == Set((2...14).map { "10.10.80.\($0)" }), "\(addresses.sorted())")
            #expect(Set(boxes.map(\.host)) == [1, 2, 3])
            // Once every host's row says so, the pool is full everywhere.
            try await waitUntil("h2 sees the pool full", timeout: 30) {
                guard let n = try? await Self.ipam(cluster, 2, vni: 380) else { return false }
                return n.hosts.reduce(0) { $0 + $1.leased } == 13 && n.hosts.allSatisfy { $0.free == 0 }
            }
            do {
                _ = try await Self.runBox(cluster, 2, "t13", network: "tiny")
                Issue.record("a 14th address came out of a /28")
            } catch let failure as CommandFailed {
                #expect(failure.output.contains("every address of the pool is leased"), "\(failure.output)")
            }
            // A container removed gives its address back, and it can be used again.
            try await cluster.docker.docker(boxes[4].host, "rm", "-f", boxes[4].name)
            try await waitUntil("h3 sees the address free", timeout: 30) {
                (try? await Self.ipam(cluster, 3, vni: 380))?.hosts.reduce(0) { $0 + $1.leased } == 12
            }
            try await Self.explained(cluster) {
                let again = try await Self.runBox(cluster, 3, "again", network: "tiny")
                #expect(again.ip == boxes[4].ip)
            }
        }
    }

    /// `--ip-range` bounds automatic allocation on every host, the gateway (here the subnet's
    /// first address; another: DockerNetworksEndToEndTests) and `--aux-address` are never
    /// handed out, and the other hosts learn them.
    @Test func ipRangeGatewayAndAuxAddressesAreHonouredOnEveryHost() async throws {
        try await TestCluster.with(hosts: 3, networks: [:]) { cluster in
            try await Self.start(cluster, hosts: 1...3)
            try await Self.makeNetwork(cluster, on: 1, "ranged", subnet: "10.10.90.0/24",
                                       options: ["-o", "vni=390", "--ip-range", "10.10.90.128/29", "--gateway", "10.10.90.1",
                                                 "--aux-address", "router=10.10.90.129", "--aux-address", "switch=10.10.90.130"], seenOn: Array(2...3))
            var boxes: [Box] = []
            try await Self.explained(cluster) {
                for i in 0..<5 { boxes.append(try await Self.runBox(cluster, i % 3 + 1, "r\(i)", network: "ranged")) }
            }
            let addresses = Set(boxes.map(\.ip))
            // 128...135 less the two aux addresses: six addresses, five used.
            #expect(addresses.count == 5)
            #expect(addresses.isSubset(of: Set((131...135).map { "10.10.90.\($0)" } + ["10.10.90.128"])), "\(addresses.sorted())")
            for h in 2...3 {
                // dockerd shows no gateway of a network whose IPAM driver chose it (the other
                // hosts'), so the allocator's view is what is checked.
                let n = try await Self.ipam(cluster, h, vni: 390)
                #expect(n?.gateway == "10.10.90.1" && Set(n?.auxAddresses ?? []) == ["10.10.90.129", "10.10.90.130"], "h\(h)")
            }
            // Asked for by address, the reserved ones are refused and one outside the range is given.
            do {
                _ = try await Self.runBox(cluster, 2, "gw", network: "ranged", extra: ["--ip", "10.10.90.130"])
                Issue.record("the aux address was handed out")
            } catch let failure as CommandFailed {
                #expect(failure.output.contains("reserved"), "\(failure.output)")
            }
            // An address another host owns, asked for by address: its owner donates it.
            let outside = try await Self.runBox(cluster, 3, "outside", network: "ranged", extra: ["--ip", "10.10.90.10"])
            #expect(outside.ip == "10.10.90.10")
        }
    }

    /// A mixed cluster: h3's agent does not serve Docker. Allocation on h1 and h2, including
    /// a donation from h1 to h2, never waits on it.
    @Test func aMixedClusterAllocatesWithoutTheAgentThatHasNoDocker() async throws {
        try await TestCluster.with(hosts: 3, networks: [:]) { cluster in
            try await Self.start(cluster, hosts: 1...2)
            try await cluster.startAgent(3)
            try await waitUntil("h3 is a member everywhere", timeout: 30) {
                (try? await cluster.cli(1, "members"))?.contains("h3") == true
            }
            try await Self.makeNetwork(cluster, on: 1, "mixed", subnet: "10.10.95.0/24", options: ["-o", "vni=395"], seenOn: [2])
            var boxes: [Box] = []
            try await Self.explained(cluster) {
                for i in 0..<6 { boxes.append(try await Self.runBox(cluster, i % 2 + 1, "m\(i)", network: "mixed")) }
            }
            #expect(Set(boxes.map(\.ip)).count == 6, "\(boxes.map(\.ip))")
            let n = try await Self.ipam(cluster, 1, vni: 395)
            #expect(n?.hosts.map(\.identity).allSatisfy { !$0.hasPrefix("h3~") } == true, "h3 publishes no allocator row")
        }
    }
}
