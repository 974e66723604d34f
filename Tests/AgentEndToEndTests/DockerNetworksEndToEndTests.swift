import Foundation
import GrapevineTestSupport
import Testing

/// Docker networks' life across hosts (issues 20 and 22): a network removed on one host while
/// others still use it, a create that meets an agent restart, options every host shows. Real
/// agents and dockerds in host namespaces, as `DockerEndToEndTests`.
@Suite(.serialized, KernelTestGate.trait)
struct DockerNetworksEndToEndTests {
    typealias E2E = DockerEndToEndTests

    /// `docker network create` on `host`, expected to fail: the output dockerd gives.
    static func refusedCreate(_ cluster: TestCluster, _ host: Int, _ arguments: [String]) async throws -> String {
        do {
            try await cluster.docker.docker(host, arguments: ["network", "create", "-d", "grapevine", "--ipam-driver", "grapevine"] + arguments)
        } catch let failure as CommandFailed {
            return failure.output
        }
        Issue.record("network create \(arguments) on h\(host) was accepted")
        return ""
    }

    static func listed(_ cluster: TestCluster, _ host: Int, _ name: String) async -> Bool {
        (try? await cluster.docker.docker(host, "network", "ls", "--format", "{{.Name}}"))?.split(separator: "\n").contains(Substring(name)) == true
    }

    /// Docker gives a remote driver no way to refuse `network rm` (dockerd logs DeleteNetwork's
    /// error and removes its copy anyway), so a network removed on a host without containers
    /// stays on the hosts that still run some, until the last one leaves; meanwhile its subnet
    /// and VNI stay taken everywhere, and nothing of it is handed out twice.
    @Test func aNetworkRemovedWhereUnusedStaysWhereUsedAndKeepsItsSubnetAndVNI() async throws {
        try await TestCluster.with(hosts: 3, networks: [:]) { cluster in
            try await E2E.start(cluster, hosts: 1...3)
            try await E2E.explained(cluster) {
                try await E2E.makeNetwork(cluster, on: 1, "keep", subnet: "10.10.70.0/24", options: ["-o", "vni=370"], seenOn: [2, 3])
                let b2 = try await E2E.runBox(cluster, 2, "k2", network: "keep")
                let b3 = try await E2E.runBox(cluster, 3, "k3", network: "keep")
                try await waitUntil("k2 reaches k3", timeout: 60) { await E2E.ping(b2, b3.ip) }

                // Removed on h1, which has no container on it: gone there at once, not from h2
                // and h3, whose containers still talk.
                try await cluster.docker.docker(1, "network", "rm", "keep")
                #expect(await !Self.listed(cluster, 1, "keep"))
                // h3's container leaves: the removal reaches h3 (its dockerd's copy goes).
                try await cluster.docker.docker(3, "rm", "-f", "k3")
                try await waitUntil("keep leaves h3 once its container is gone", timeout: 60) { await !Self.listed(cluster, 3, "keep") }
                #expect(await Self.listed(cluster, 2, "keep"))
                #expect(try await E2E.vni(cluster, 2, "keep") == 370)

                // The subnet and the VNI are still in use (on h2): a create that would reuse
                // either is refused, naming h2 and only h2, on every host.
                for h in [1, 3] {
                    let sameSubnet = try await Self.refusedCreate(cluster, h, ["--subnet", "10.10.70.0/24", "keep2"])
                    #expect(sameSubnet.contains("overlaps network keep") && sameSubnet.contains("still in use on host h2"), "h\(h): \(sameSubnet)")
                    let sameVNI = try await Self.refusedCreate(cluster, h, ["--subnet", "10.10.71.0/24", "-o", "vni=370", "keep3"])
                    #expect(sameVNI.contains("VNI 370 is network keep") && sameVNI.contains("still in use on host h2"), "h\(h): \(sameVNI)")
                    let made2 = await Self.listed(cluster, h, "keep2"), made3 = await Self.listed(cluster, h, "keep3")
                    #expect(!made2 && !made3)
                }
                // h2's container keeps its address on the network that stayed.
                #expect(try await E2E.inspect(cluster, 2, "k2", network: "keep").ip == b2.ip)

                // h2's agent restarts while it keeps the removed network: it still serves it
                // (its copy of the definition is the removal), so its container's departure
                // below is still withdrawn everywhere.
                _ = try await cluster.restartAgent(2)
                #expect(try await Self.hasLink(cluster, 2, "gvx370"))

                // The last container leaves: the network goes from h2 too, and the subnet is
                // free again: the same create now passes, with a fresh VNI.
                try await cluster.docker.docker(2, "rm", "-f", "k2")
                try await waitUntil("keep leaves h2 once its last container is gone", timeout: 60) { await !Self.listed(cluster, 2, "keep") }
                try await waitUntil("the subnet is free once the network is gone everywhere", timeout: 60) {
                    (try? await cluster.docker.docker(1, arguments: ["network", "create", "-d", "grapevine", "--ipam-driver", "grapevine",
                                                                     "--subnet", "10.10.70.0/24", "keep2"])) != nil
                }
                try await waitUntil("keep2 appears on h2", timeout: 60) { await Self.listed(cluster, 2, "keep2") }
                let fresh = try await E2E.runBox(cluster, 2, "k4", network: "keep2")
                #expect(fresh.ip.hasPrefix("10.10.70."))
            }
        }
    }

    /// Whether host `host`'s namespace has the link `name`.
    static func hasLink(_ cluster: TestCluster, _ host: Int, _ name: String) async throws -> Bool {
        let links = try await onOwnThread { try run(["ip", "-n", cluster.namespace(host), "-o", "link"]) }
        return links.contains(" \(name):") || links.contains(" \(name)@")
    }

    /// The plugin's part of a `docker network create` done, dockerd's part never: what an agent
    /// restart leaves when dockerd's create failed after the plugin acknowledged (dockerd's
    /// rollback DeleteNetwork reached no agent). The agent is restarted in between, so the
    /// pending network comes back from its file. Its subnet and VNI must not be refused for
    /// good, no half-made device may stay, and a network dockerd did make at the same moment
    /// must not be forgotten.
    @Test func aCreateThatMeetsARestartLeavesNothingHalfMade() async throws {
        try await TestCluster.with(hosts: 2, networks: [:]) { cluster in
            try await E2E.start(cluster, hosts: 1...2)
            try await E2E.explained(cluster) {
                let body = #"{"NetworkID":"0badc0de0badc0de","Options":{"com.docker.network.generic":{"vni":"380"}},"IPv4Data":[{"AddressSpace":"grapevine","Pool":"10.10.80.0/24","Gateway":"10.10.80.1/24"}]}"#
                let answer = try await onOwnThread {
                    try run(["ip", "netns", "exec", cluster.namespace(1), "curl", "-s", "-o", "-", "-w", " %{http_code}",
                             "-X", "POST", "--data-binary", body, "http://127.0.0.1:\(E2E.plugin)/NetworkDriver.CreateNetwork"])
                }
                #expect(answer.hasSuffix(" 200"), "\(answer)")
                #expect(try await Self.hasLink(cluster, 1, "gvx380"))
                // A real network made just before the restart: dockerd has it, the agent too,
                // and the restart's first collection keeps it.
                try await E2E.makeNetwork(cluster, on: 1, "fresh", subnet: "10.10.81.0/24", options: ["-o", "vni=381"], seenOn: [])
                _ = try await cluster.restartAgent(1)

                // Meanwhile a create of the same subnet or VNI is refused naming what is in the
                // way (never a network with an empty name) ...
                let early = try? await cluster.docker.docker(1, arguments: ["network", "create", "-d", "grapevine", "--ipam-driver", "grapevine",
                                                                              "--subnet", "10.10.80.0/25", "late"])
                if early == nil {
                    let refusal = try await Self.refusedCreate(cluster, 1, ["--subnet", "10.10.80.0/25", "late"])
                    #expect(!refusal.contains("network  ("), "\(refusal)")
                }
                // ... until the agent settles the create dockerd never finished: its device
                // goes, and the subnet and the VNI are free again.
                try await waitUntil("gvx380 leaves h1", timeout: 90) { try await !Self.hasLink(cluster, 1, "gvx380") }
                if early == nil {
                    try await waitUntil("the unfinished create's subnet is free", timeout: 60) {
                        (try? await cluster.docker.docker(1, arguments: ["network", "create", "-d", "grapevine", "--ipam-driver", "grapevine",
                                                                         "--subnet", "10.10.80.0/25", "late"])) != nil
                    }
                }
                try await cluster.docker.docker(1, arguments: ["network", "create", "-d", "grapevine", "--ipam-driver", "grapevine",
                                                               "--subnet", "10.10.82.0/24", "-o", "vni=380", "again"])
                try await waitUntil("again appears on h2", timeout: 60) { await Self.listed(cluster, 2, "again") }
                #expect(try await E2E.vni(cluster, 2, "again") == 380)

                // The network made just before the restart was never forgotten: it carries
                // containers of both hosts.
                try await waitUntil("fresh appears on h2", timeout: 60) { await Self.listed(cluster, 2, "fresh") }
                let f1 = try await E2E.runBox(cluster, 1, "f1", network: "fresh")
                let f2 = try await E2E.runBox(cluster, 2, "f2", network: "fresh")
                try await waitUntil("f1 reaches f2", timeout: 60) { await E2E.ping(f1, f2.ip) }
                #expect(try await Self.hasLink(cluster, 1, "gvx381"))
            }
        }
    }

    /// The MTU of `link` in host `host`'s namespace.
    static func mtu(_ cluster: TestCluster, host: Int, _ link: String) async throws -> Int {
        let line = try await onOwnThread { try run(["ip", "-n", cluster.namespace(host), "-o", "link", "show", link]) }
        return Self.mtu(of: line)
    }

    static func mtu(of line: String) -> Int {
        let words = line.split(separator: " ")
        guard let i = words.firstIndex(of: "mtu"), i + 1 < words.count else { return -1 }
        return Int(words[i + 1]) ?? -1
    }

    /// `docker network inspect`'s option `key` of `network` on `host` ("" when absent).
    static func option(_ cluster: TestCluster, _ host: Int, _ network: String, _ key: String) async throws -> String {
        try await cluster.docker.docker(host, "network", "inspect", "-f", "{{index .Options \"\(key)\"}}", network)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `-o com.docker.network.driver.mtu=N`: every host's devices and containers get N, every
    /// host's `docker network inspect` shows it and the VNI, a DF ping of N bytes crosses hosts
    /// and one of N + 1 does not leave; an MTU the underlay cannot carry is refused by name.
    @Test func aNetworksMTUIsHonouredOnEveryHostAndOneTooLargeIsRefused() async throws {
        try await TestCluster.with(hosts: 3, networks: [:]) { cluster in
            try await E2E.start(cluster, hosts: 1...3)
            try await E2E.explained(cluster) {
                // The test underlay is 1500 bytes: 1450 is the most VXLAN over IPv4 carries.
                let tooLarge = try await Self.refusedCreate(cluster, 1, ["--subnet", "10.10.90.0/24", "-o", "com.docker.network.driver.mtu=1451", "big"])
                #expect(tooLarge.contains("mtu 1451 is larger than this host's underlay carries: at most 1450"), "\(tooLarge)")
                let nonsense = try await Self.refusedCreate(cluster, 1, ["--subnet", "10.10.90.0/24", "-o", "com.docker.network.driver.mtu=abc", "big"])
                #expect(nonsense.contains("mtu 'abc' is not 576 to 65535"), "\(nonsense)")

                try await E2E.makeNetwork(cluster, on: 1, "narrow", subnet: "10.10.91.0/24",
                                          options: ["-o", "vni=391", "-o", "com.docker.network.driver.mtu=1400"], seenOn: [2, 3])
                for h in 1...3 {
                    #expect(try await Self.option(cluster, h, "narrow", "vni") == "391", "h\(h)")
                    #expect(try await Self.option(cluster, h, "narrow", "com.docker.network.driver.mtu") == "1400", "h\(h)")
                    #expect(try await Self.mtu(cluster, host: h, "gvx391") == 1400, "h\(h)")
                    #expect(try await Self.mtu(cluster, host: h, "gvbr391") == 1400, "h\(h)")
                    let listed = try await cluster.cli(h, "network", "ls")
                    let row = listed.split(separator: "\n").first { $0.contains("narrow") }.map(String.init) ?? ""
                    #expect(row.contains("391") && row.contains("1400"), "h\(h): \(listed)")
                }
                let n1 = try await E2E.runBox(cluster, 1, "n1", network: "narrow")
                let n2 = try await E2E.runBox(cluster, 2, "n2", network: "narrow")
                let inside = try await onOwnThread { try run(["nsenter", "--net=/proc/\(n2.pid)/ns/net", "ip", "-o", "link", "show", "eth0"]) }
                #expect(Self.mtu(of: inside) == 1400, "\(inside)")
                try await waitUntil("n1 reaches n2", timeout: 60) { await E2E.ping(n1, n2.ip) }
                // 1400 bytes: 20 of IPv4, 8 of ICMP, 1372 of payload, with DF set.
                let atLimit = try? await onOwnThread {
                    try run(["nsenter", "--net=/proc/\(n1.pid)/ns/net", "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1372", n2.ip])
                }
                #expect(atLimit != nil, "a DF ping of 1400 bytes did not cross")
                let over = try? await onOwnThread {
                    try run(["nsenter", "--net=/proc/\(n1.pid)/ns/net", "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1373", n2.ip])
                }
                #expect(over == nil, "a DF ping of 1401 bytes left a 1400-byte interface")

                // Without the option, the overlay MTU from the underlay, as before.
                try await E2E.makeNetwork(cluster, on: 2, "wide", subnet: "10.10.92.0/24", options: ["-o", "vni=392"], seenOn: [1, 3])
                for h in 1...3 {
                    #expect(try await Self.mtu(cluster, host: h, "gvx392") == 1450, "h\(h)")
                    #expect(try await Self.option(cluster, h, "wide", "vni") == "392", "h\(h)")
                }
            }
        }
    }

    /// A `--gateway` other than the subnet's first address (issue 21): the allocator keeps it
    /// out of a /29 filled completely, every host learns it (in the pool of the allocator rows
    /// and in the network's definition, from which each host's bridge carries it), and it
    /// answers pings from containers on every host; the broadcast address is refused.
    @Test func aGatewayAnywhereInTheSubnetAnswersOnEveryHostAndIsNeverHandedOut() async throws {
        try await TestCluster.with(hosts: 3, networks: [:]) { cluster in
            try await DockerNamesEndToEndTests.start(cluster, hosts: 1...3)
            try await E2E.explained(cluster) {
                // The broadcast address cannot be a gateway: refused, naming why.
                let broadcast = try await Self.refusedCreate(cluster, 1, ["--subnet", "10.10.96.0/24", "--gateway", "10.10.96.255", "gw2"])
                #expect(broadcast.contains("10.10.96.255 cannot be the gateway") && broadcast.contains("broadcast"), "\(broadcast)")
                // A /29 whose gateway is its last usable address: five containers over the three
                // hosts fill it, every one of .1 to .5, none the gateway, and a sixth is refused.
                try await E2E.makeNetwork(cluster, on: 1, "gw", subnet: "10.10.95.0/29", options: ["--gateway", "10.10.95.6"], seenOn: [2, 3])
                var boxes: [E2E.Box] = []
                for i in 0..<5 { boxes.append(try await E2E.runBox(cluster, i % 3 + 1, "g\(i)", network: "gw")) }
                #expect(Set(boxes.map(\.ip)) == Set((1...5).map { "10.10.95.\($0)" }), "\(boxes.map(\.ip).sorted())")
                do {
                    _ = try await E2E.runBox(cluster, 2, "g5", network: "gw")
                    Issue.record("a sixth address came out of a /29 whose gateway is reserved")
                } catch let failure as CommandFailed {
                    #expect(failure.output.contains("every address of the pool is leased"), "\(failure.output)")
                }
                // The gateway answers containers on every host, from that host's own bridge.
                for box in boxes.prefix(3) {
                    try await waitUntil("the gateway answers \(box.name) on h\(box.host)", timeout: 60) { await E2E.ping(box, "10.10.95.6") }
                }
                // Every host's allocator reserves it from the pool in the allocator rows.
                for h in 1...3 {
                    let text = try await cluster.cli(h, "ipam", "gw")
                    #expect(text.contains("gateway 10.10.95.6"), "h\(h): \(text)")
                }
            }
        }
    }

    /// One DNS query for an A record over TCP or UDP, from the host's python3 run in a
    /// container's network namespace, to dockerd's resolver there: prints `TC=0|1` and each
    /// address answered.
    static let dnsQuery = """
    import socket, struct, sys
    name, proto = sys.argv[1], sys.argv[2]
    q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    for label in name.split("."): q += bytes([len(label)]) + label.encode()
    q += b"\\x00" + struct.pack(">HH", 1, 1)
    if proto == "tcp":
        s = socket.create_connection(("127.0.0.11", 53), timeout=5)
        s.sendall(struct.pack(">H", len(q)) + q)
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
            chunk = s.recv(65536)
            if not chunk: break
            data += chunk
        r = data[2:]
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
        s.sendto(q, ("127.0.0.11", 53)); r = s.recv(65536)
    flags, qd, an = struct.unpack(">H", r[2:4])[0], struct.unpack(">H", r[4:6])[0], struct.unpack(">H", r[6:8])[0]
    print("TC=%d" % ((flags >> 9) & 1))
    i = 12
    def skip(i):
        while r[i] != 0:
            if r[i] >= 0xC0: return i + 2
            i += 1 + r[i]
        return i + 1
    for _ in range(qd): i = skip(i) + 4
    for _ in range(an):
        i = skip(i)
        t, c, ttl, n = struct.unpack(">HHIH", r[i:i + 10]); i += 10
        if t == 1 and n == 4: print(".".join(str(b) for b in r[i:i + 4]))
        i += n
    """

    /// `grapevine_dns_tcp_connections_total` of host `host`'s agent (0 before the first).
    static func tcpConnections(_ cluster: TestCluster, _ host: Int) async throws -> Int {
        let text = try await onOwnThread { try run(["curl", "-s", "--unix-socket", cluster.socket(host), "http://agent/metrics"]) }
        let line = text.split(separator: "\n").first { $0.hasPrefix("grapevine_dns_tcp_connections_total ") }
        return Int(Double(line?.split(separator: " ").last ?? "0") ?? -1)
    }

    /// Names over TCP through the whole path (container → dockerd's resolver → the agent's
    /// name service over TCP): the same answer as over UDP for a container of another host.
    @Test func aNameResolvesOverTCPThroughDockerdsResolver() async throws {
        try await TestCluster.with(hosts: 2, networks: [:]) { cluster in
            try await DockerNamesEndToEndTests.start(cluster, hosts: 1...2)
            try await E2E.explained(cluster) {
                let script = cluster.directory.appendingPathComponent("dns-query.py").path
                try Self.dnsQuery.write(toFile: script, atomically: true, encoding: .utf8)
                try await E2E.makeNetwork(cluster, on: 1, "names", subnet: "10.10.97.0/24", seenOn: [2])
                let far = try await E2E.runBox(cluster, 1, "far", network: "names")
                let asker = try await E2E.runBox(cluster, 2, "asker", network: "names")
                func ask(_ proto: String) async -> String {
                    (try? await onOwnThread {
                        try run(["nsenter", "--net=/proc/\(asker.pid)/ns/net", "python3", script, "far", proto])
                    }) ?? ""
                }
                try await waitUntil("far resolves over UDP on h2", timeout: 60) { await ask("udp").contains(far.ip) }
                let before = try await Self.tcpConnections(cluster, 2)
                let tcp = await ask("tcp")
                #expect(tcp.contains("TC=0") && tcp.contains(far.ip), "over TCP: \(tcp)")
                // dockerd passed it on over TCP: h2's name service took a connection.
                #expect(try await Self.tcpConnections(cluster, 2) > before)
            }
        }
    }
}
