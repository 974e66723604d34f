import Foundation
import GrapevineTestSupport
import Testing

/// Dual-stack grapevine networks (issue 22, "IPv6"): real agents and dockerds in host
/// namespaces, as `DockerEndToEndTests`. Containers get an address of each family, reach each
/// other across hosts over IPv6, and no neighbour solicitation crosses the underlay: the VXLAN
/// device's proxy mode answers them from the neighbour rows the agent programs.
@Suite(.serialized, KernelTestGate.trait)
struct DockerIPv6EndToEndTests {
    typealias E2E = DockerEndToEndTests

    /// ICMPv6 types counted in the VXLAN packets a host sends on the underlay.
    static let counted: [(name: String, type: Int)] = [("ns", 135), ("na", 136), ("echo", 128)]

    /// Counts, in host `host`'s namespace, the VXLAN packets it sends (UDP to port 4789) whose
    /// inner frame is ICMPv6 of each type in `counted`, by raw offsets from the UDP header:
    /// UDP (8) + VXLAN (8) + Ethernet (14), so the inner EtherType is at byte 28, the IPv6
    /// next header at 36 and the ICMPv6 type at 70. One nftables table, removed with the
    /// namespace.
    static func countInnerICMPv6(_ cluster: TestCluster, _ host: Int) async throws {
        var rules = "table inet gvtest6 {\n"
        for c in counted { rules += "  counter \(c.name) {}\n" }
        rules += "  chain out {\n    type filter hook output priority 0; policy accept;\n"
        for c in counted {
            rules += "    udp dport 4789 @th,224,16 0x86dd @th,288,8 58 @th,560,8 \(c.type) counter name \"\(c.name)\"\n"
        }
        rules += "  }\n}\n"
        let file = cluster.directory.appendingPathComponent("nft-h\(host).conf")
        try rules.write(to: file, atomically: true, encoding: .utf8)
        _ = try await onOwnThread { try run(["ip", "netns", "exec", cluster.namespace(host), "nft", "-f", file.path]) }
    }

    /// The packets counted so far on `host`, by counter name.
    static func counters(_ cluster: TestCluster, _ host: Int) async throws -> [String: Int] {
        let text = try await onOwnThread { try run(["ip", "netns", "exec", cluster.namespace(host), "nft", "-j", "list", "counters", "table", "inet", "gvtest6"]) }
        let json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        var out: [String: Int] = [:]
        for item in json?["nftables"] as? [[String: Any]] ?? [] {
            guard let c = item["counter"] as? [String: Any], let name = c["name"] as? String, let packets = c["packets"] as? Int else { continue }
            out[name] = packets
        }
        return out
    }

    /// A container's IPv6 address on `network` as Docker reports it.
    static func ipv6(_ cluster: TestCluster, _ host: Int, _ name: String, network: String) async throws -> String {
        try await cluster.docker.docker(host, "inspect", "-f", "{{(index .NetworkSettings.Networks \"\(network)\").GlobalIPv6Address}}", name)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// One busybox `ping -6` from inside container `from` on `host` to `address`.
    static func ping6(_ cluster: TestCluster, _ host: Int, _ from: String, _ address: String) async -> Bool {
        (try? await cluster.docker.docker(host, "exec", from, "ping", "-6", "-c", "1", "-W", "1", address)) != nil
    }

    /// Neighbour rows of `host`'s VXLAN device for IPv6 unicast addresses (the kernel adds its
    /// own multicast ones once IPv6 is up on the device).
    static func ipv6Neighbors(_ cluster: TestCluster, _ host: Int, vni: Int) async throws -> [String: String] {
        try await cluster.kernelRows(host, vni: vni).neighbors.filter { $0.key.contains(":") && !$0.key.hasPrefix("ff") }
    }

    @Test func aDualStackNetworkCarriesIPv6AcrossHostsAndNoSolicitationCrossesTheUnderlay() async throws {
        try await TestCluster.with(hosts: 3, networks: [:]) { cluster in
            try await E2E.start(cluster, hosts: 1...3)
            for h in 1...3 { try await Self.countInnerICMPv6(cluster, h) }
            try await E2E.explained(cluster) {
                // Docker 20.10 always asks for an IPv4 pool first: an IPv6-only network is
                // refused there, naming the fix.
                let only6 = try await DockerNetworksEndToEndTests.refusedCreate(cluster, 1, ["--ipv6", "--subnet", "fd10:61::/64", "only6"])
                #expect(only6.contains("IPv4 --subnet") && only6.contains("Docker 20.10 networks always have IPv4"), "\(only6)")
                print("IPv6-only create refused: \(only6)")
                let no6 = try await DockerNetworksEndToEndTests.refusedCreate(cluster, 1, ["--ipv6", "--subnet", "10.10.61.0/24", "no6"])
                #expect(no6.contains("give the network an IPv6 --subnet"), "\(no6)")

                try await E2E.makeNetwork(cluster, on: 1, "dual", subnet: "10.10.60.0/24",
                                          options: ["--ipv6", "--subnet", "fd10:60::/64", "-o", "vni=360"], seenOn: [2, 3])
                // The IPv6 subnet travels with the definition: another network may not overlap it.
                let overlap = try await DockerNetworksEndToEndTests.refusedCreate(
                    cluster, 2, ["--ipv6", "--subnet", "10.10.62.0/24", "--subnet", "fd10:60::/80", "over6"])
                #expect(overlap.contains("fd10:60::/80 overlaps network dual"), "\(overlap)")

                var boxes: [E2E.Box] = []
                var v6: [String] = []
                for h in 1...3 {
                    boxes.append(try await E2E.runBox(cluster, h, "d\(h)", network: "dual"))
                    v6.append(try await Self.ipv6(cluster, h, "d\(h)", network: "dual"))
                }
                // `--ip6` of an address the creating host owns, from another host: donated.
                let chosen = try await E2E.runBox(cluster, 2, "d4", network: "dual", extra: ["--ip6", "fd10:60::99"])
                boxes.append(chosen)
                v6.append(try await Self.ipv6(cluster, 2, "d4", network: "dual"))
                #expect(v6.last == "fd10:60::99")
                #expect(v6.allSatisfy { $0.hasPrefix("fd10:60::") } && Set(v6).count == 4, "IPv6 addresses \(v6)")
                #expect(boxes.allSatisfy { $0.ip.hasPrefix("10.10.60.") } && Set(boxes.map(\.ip)).count == 4, "IPv4 addresses \(boxes.map(\.ip))")

                // Every host holds an IPv6 neighbour row for each container of the other hosts.
                for h in 1...3 {
                    var want: [String: String] = [:]
                    for (b, a) in zip(boxes, v6) where b.host != h { want[a] = b.mac }
                    try await waitUntil("h\(h) holds the IPv6 neighbour rows", timeout: 60) { try await Self.ipv6Neighbors(cluster, h, vni: 360) == want }
                }
                // Both families across hosts, from inside the containers (busybox's ping).
                for (a, from) in zip(boxes, v6) {
                    for (b, to) in zip(boxes, v6) where a.host != b.host {
                        try await waitUntil("\(a.name) reaches \(b.name) at \(to) from \(from)", timeout: 20) { await Self.ping6(cluster, a.host, a.name, to) }
                        #expect(await E2E.ping(a, b.ip), "\(a.name) cannot reach \(b.name) at \(b.ip)")
                    }
                }
                // No default IPv6 route: Docker's gateway bridge, which carries a container's
                // traffic off the overlay, is IPv4 only (Docs/DOCKER.md, "IPv6").
                let routes = try await cluster.docker.docker(1, "exec", "d1", "ip", "-6", "route")
                #expect(routes.contains("fd10:60::/64") && !routes.contains("default"), "\(routes)")

                // A released IPv6 address can be had again, here from a third host; and an
                // agent restart keeps its IPv6 pool (`ipam.json` entry `360/6`).
                try await cluster.docker.docker(2, "rm", "-f", "d4")
                _ = try await cluster.restartAgent(2)
                let file = try String(contentsOfFile: cluster.dataDir(2) + "/ipam.json", encoding: .utf8)
                #expect(file.contains("\"360\\/6\"") || file.contains("\"360/6\""), "\(file)")
                _ = try await E2E.runBox(cluster, 3, "d5", network: "dual", extra: ["--ip6", "fd10:60::99"])
                #expect(try await Self.ipv6(cluster, 3, "d5", network: "dual") == "fd10:60::99")
                _ = try await E2E.runBox(cluster, 2, "d6", network: "dual")
                let after = try await Self.ipv6(cluster, 2, "d6", network: "dual")
                #expect(after.hasPrefix("fd10:60::") && !v6.contains(after), "\(after) after the restart, \(v6) before")
                try await waitUntil("d6 reaches d1 over IPv6", timeout: 20) { await Self.ping6(cluster, 2, "d6", v6[0]) }

                var total: [String: Int] = [:]
                for h in 1...3 {
                    let c = try await Self.counters(cluster, h)
                    for (k, v) in c { total[k, default: 0] += v }
                    // The counting itself works on this host: its echo requests were seen.
                    #expect(c["echo"] ?? 0 > 0, "h\(h) counted no IPv6 echo request crossing the underlay: \(c)")
                    #expect(c["ns"] == 0, "h\(h) sent \(c["ns"] ?? -1) neighbour solicitations over the underlay")
                }
                // Neighbour discovery that does cross: the agents' announcements of new
                // addresses (unsolicited advertisements), sent to the other hosts' VTEPs.
                #expect(total["na"] ?? 0 > 0, "no advertisement counted: \(total)")
                print("dual stack: ICMPv6 packets sent over the underlay by the 3 hosts: \(total.sorted { $0.key < $1.key })")

                // Both pools show in `grapevine ipam`.
                let ipam = try await cluster.cli(2, "ipam", "--format", "json").replacingOccurrences(of: "\\/", with: "/")
                #expect(ipam.contains("10.10.60.0/24") && ipam.contains("fd10:60::/64"), "\(ipam)")
            }
        }
    }

    /// By name over IPv6 across hosts: the name service answers AAAA from the endpoint rows'
    /// IPv6 addresses, through dockerd's resolver, as it answers A (Docs/DOCKER.md, "Names").
    @Test func aDualStackContainerAnswersByNameOverIPv6FromAnotherHost() async throws {
        try await TestCluster.with(hosts: 2, networks: [:]) { cluster in
            try await DockerNamesEndToEndTests.start(cluster, hosts: 1...2)
            try await E2E.explained(cluster) {
                try await E2E.makeNetwork(cluster, on: 1, "dual", subnet: "10.10.63.0/24",
                                          options: ["--ipv6", "--subnet", "fd10:63::/64"], seenOn: [2])
                _ = try await E2E.runBox(cluster, 1, "n1", network: "dual")
                _ = try await E2E.runBox(cluster, 2, "n2", network: "dual")
                let address = try await Self.ipv6(cluster, 1, "n1", network: "dual")
                #expect(address.hasPrefix("fd10:63::"))
                var answer = ""
                try await waitUntil("n2 resolves n1's IPv6 address", timeout: 30) {
                    answer = (try? await cluster.docker.docker(2, "exec", "n2", "nslookup", "-type=aaaa", "n1")) ?? ""
                    return answer.contains(address)
                }
                try await waitUntil("n2 pings n1 by name over IPv6", timeout: 20) {
                    (try? await cluster.docker.docker(2, "exec", "n2", "ping", "-6", "-c", "1", "-W", "1", "n1")) != nil
                }
            }
        }
    }
}
