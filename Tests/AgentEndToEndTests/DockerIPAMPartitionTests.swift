import Foundation
import GrapevineTestSupport
import Testing

/// The allocator of owned ranges across a partition, with real dockerds (issue 21, "Must
/// show": "a 60 s partition with containers started on both sides gives no duplicate, and
/// after the heal every host's kernel rows equal the desired state").
///
/// The partition: the underlay is one bridge in the switch namespace the test made
/// (TestCluster), and host 3 is cut off by setting its port there, `p3`, down
/// (`ip -n <switch> link set p3 down`), which also takes the carrier of host 3's `eth0`
/// away; the heal sets it up again. Only that namespace, made and deleted by the test, is
/// touched. The cut lasts 60 s, as in the issue: long enough for both sides to declare the
/// other dead, allocate, and refuse, and for suspicion to be long over before the heal.
@Suite(.serialized, KernelTestGate.trait)
struct DockerIPAMPartitionTests {
    typealias Box = DockerEndToEndTests.Box

    /// `grapevine ipam --format json` with what this test reads: who is alive in the
    /// answering host's view and which ranges each host owns.
    struct IPAMView: Decodable {
        struct Network: Decodable {
            var vni: UInt32
            var hosts: [Host]
        }
        struct Host: Decodable {
            var identity: String
            var host: String
            var alive: Bool
            var ranges: [String]
            var leased: Int
            var free: UInt64
        }
        var networks: [Network]
    }

    static let vni: UInt32 = 377
    static let partition: Duration = .seconds(60)

    static func ipam(_ cluster: TestCluster, _ host: Int) async throws -> IPAMView.Network? {
        let text = try await cluster.cli(host, "ipam", "--format", "json")
        return try JSONDecoder().decode(IPAMView.self, from: Data(text.utf8)).networks.first { $0.vni == vni }
    }

    /// The last octets of the addresses in `ranges` ("A-B" or "A", IPv4, one /24).
    static func lastOctets(_ ranges: [String]) -> [Int] {
        ranges.flatMap { range -> [Int] in
            let ends = range.split(separator: "-").compactMap { $0.split(separator: ".").last.flatMap { Int($0) } }
            guard let low = ends.first, let high = ends.last, low <= high else { return [] }
            return Array(low...high)
        }
    }

    /// Every container with an address in `network`, as every host's dockerd reports them
    /// (a container whose start was refused has none).
    static func everyBox(_ cluster: TestCluster, network: String) async throws -> [Box] {
        var boxes: [Box] = []
        for h in 1...3 {
            let names = try await cluster.docker.docker(h, "ps", "-a", "--format", "{{.Names}}").split(separator: "\n").map(String.init)
            for name in names {
                let box = try await DockerEndToEndTests.inspect(cluster, h, name, network: network)
                if !box.ip.isEmpty { boxes.append(box) }
            }
        }
        return boxes
    }

    /// `docker run` that must be refused with `message`; the created container is removed.
    static func expectRefused(_ cluster: TestCluster, _ host: Int, _ name: String, network: String, extra: [String] = [],
                              message: String, _ comment: String) async throws {
        do {
            let box = try await DockerEndToEndTests.runBox(cluster, host, name, network: network, extra: extra)
            Issue.record("\(comment): h\(host) started \(name) with \(box.ip)")
        } catch let failure as CommandFailed {
            #expect(failure.output.contains(message), "\(comment): \(failure.output)")
            print("\(comment): \(failure.output.split(separator: "\n").first { $0.contains(message) } ?? "")")
            _ = try? await cluster.docker.docker(host, "rm", "-f", name)
        }
    }

    /// `grapevine fdb NAME --check` succeeds (exit 0 only when the kernel equals the desired
    /// rows); the agent names a Docker network by Docker's name, or `vni-N` without one.
    static func fdbInSync(_ cluster: TestCluster, _ host: Int, network: String) async -> Bool {
        for name in [network, "vni-\(vni)"] {
            if let text = try? await cluster.cli(host, "fdb", name, "--check"), text.contains("in sync") { return true }
        }
        return false
    }

    /// Hosts 2 and 3 hold donated ranges; host 3 is cut off for 60 s; both sides start
    /// containers from what they own, and each side's ask for an address the other side owns
    /// (host 3 once its own range is used up, and `--ip` on both sides) is refused as "owner
    /// unreachable", never answered with a duplicate. After the heal: no address on two
    /// containers, every host's kernel rows equal the desired ones, and a new container on
    /// each host gets a fresh address.
    @Test func aPartitionWithContainersOnBothSidesGivesNoAddressTwice() async throws {
        try await TestCluster.with(hosts: 3, networks: [:]) { cluster in
            try await DockerEndToEndTests.start(cluster, hosts: 1...3)
            let net = "split"
            // A /27: 29 addresses to hand out, so host 3's donated range is used up by a few
            // containers while hosts 1 and 2 still own free addresses.
            try await DockerEndToEndTests.makeNetwork(cluster, on: 1, net, subnet: "10.10.77.0/27",
                                                      options: ["-o", "vni=\(Self.vni)"], seenOn: [2, 3])
            try await DockerEndToEndTests.explained(cluster) {
                // Round by round, so that hosts 2 and 3 each ask for (and get) a donation.
                for i in 0..<6 { _ = try await DockerEndToEndTests.runBox(cluster, i % 3 + 1, "before\(i)", network: net) }
                for h in 1...3 {
                    try await waitUntil("h\(h) sees three owners and six leases", timeout: 60) {
                        guard let n = try? await Self.ipam(cluster, h) else { return false }
                        return n.hosts.count == 3 && n.hosts.allSatisfy { !$0.ranges.isEmpty } && n.hosts.reduce(0) { $0 + $1.leased } == 6
                    }
                }
            }
            let before = try #require(try await Self.ipam(cluster, 1))
            func owned(_ host: Int) -> [Int] {
                Self.lastOctets(before.hosts.first { $0.host == "h\(host)" }?.ranges ?? [])
            }
            let leasedBefore = Set(try await Self.everyBox(cluster, network: net).map(\.ip))
            #expect(leasedBefore.count == 6, "\(leasedBefore.sorted())")
            func free(_ octets: [Int]) -> [String] {
                octets.filter { (2...30).contains($0) }.map { "10.10.77.\($0)" }.filter { !leasedBefore.contains($0) }
            }
            // Addresses each side will ask for by `--ip` from an owner across the cut: the
            // highest free one, which its owner (lowest free first) hands out last.
            let ofHost1 = try #require(free(owned(1)).last, "h1 owns no free address: \(before.hosts.map(\.ranges))")
            let ofHost3 = try #require(free(owned(3)).last, "h3 owns no free address: \(before.hosts.map(\.ranges))")
            let host3Free = try #require(before.hosts.first { $0.host == "h3" }).free
            print("before the cut: ranges \(before.hosts.map { "\($0.host) \($0.ranges)" }), leased \(leasedBefore.sorted())")

            let clock = ContinuousClock()
            let cut = clock.now
            try sh("ip", "-n", cluster.switchNamespace, "link", "set", "p3", "down")
            do {
                try await DockerEndToEndTests.explained(cluster) {
                    for (viewer, others) in [(3, ["h1", "h2"]), (1, ["h3"]), (2, ["h3"])] {
                        try await waitUntil("h\(viewer) takes \(others) for unreachable", timeout: 60) {
                            guard let n = try? await Self.ipam(cluster, viewer) else { return false }
                            return n.hosts.filter { others.contains($0.host) }.allSatisfy { !$0.alive }
                        }
                    }
                    print("both sides took the other for gone after \(clock.now - cut)")
                    let unreachable = "the hosts that own free addresses are unreachable"
                    // Both sides at once: host 3 uses up its own range, then must ask across
                    // the cut; hosts 1 and 2 allocate from theirs (host 2 may ask host 1, on
                    // its side) and ask host 3 for one of its addresses by `--ip`.
                    async let island: Void = Self.island(cluster, network: net, own: Int(host3Free), across: ofHost1, refusal: unreachable)
                    async let mainland: Void = Self.mainland(cluster, network: net, across: ofHost3, refusal: unreachable)
                    try await island
                    try await mainland
                    let during = try await Self.everyBox(cluster, network: net)
                    #expect(Set(during.map(\.ip)).count == during.count, "during the cut: \(during.map { "h\($0.host) \($0.name) \($0.ip)" })")
                    // The partition's length, not a synchronisation: the heal comes 60 s after the cut.
                    let left = Self.partition - (clock.now - cut)
                    if left > .zero { try await Task.sleep(for: left) }
                }
            } catch {
                _ = try? sh("ip", "-n", cluster.switchNamespace, "link", "set", "p3", "up")
                throw error
            }
            try sh("ip", "-n", cluster.switchNamespace, "link", "set", "p3", "up")
            print("healed after \(clock.now - cut)")

            try await DockerEndToEndTests.explained(cluster) {
                for h in 1...3 {
                    try await waitUntil("h\(h) sees every host alive again", timeout: 60) {
                        guard let n = try? await Self.ipam(cluster, h) else { return false }
                        return n.hosts.count == 3 && n.hosts.allSatisfy(\.alive)
                    }
                }
                var boxes = try await Self.everyBox(cluster, network: net)
                let total = 6 + Int(host3Free) + 4
                #expect(boxes.count == total, "\(boxes.map { "h\($0.host) \($0.name) \($0.ip)" })")
                #expect(Set(boxes.map(\.ip)).count == boxes.count, "an address on two containers: \(boxes.map { "h\($0.host) \($0.name) \($0.ip)" }.sorted())")
                for h in 1...3 {
                    try await waitUntil("h\(h)'s allocator rows show \(boxes.count) leases", timeout: 60) {
                        (try? await Self.ipam(cluster, h))?.hosts.reduce(0) { $0 + $1.leased } == boxes.count
                    }
                }
                // Every lease lies inside the range its host owns (in host 1's view, now whole).
                let owners = try #require(try await Self.ipam(cluster, 1))
                for b in boxes {
                    let octets = Self.lastOctets(owners.hosts.first { $0.host == "h\(b.host)" }?.ranges ?? [])
                    #expect(octets.contains(Int(b.ip.split(separator: ".").last ?? "") ?? -1), "h\(b.host)'s \(b.name) \(b.ip) outside its ranges \(owners.hosts.map(\.ranges))")
                }
                try await Self.expectKernelInSync(cluster, boxes: boxes, network: net)

                // After the heal, a container on each host gets an address nobody holds (host
                // 3 now by a donation from across the former cut).
                for h in 1...3 {
                    let fresh = try await DockerEndToEndTests.runBox(cluster, h, "after\(h)", network: net)
                    #expect(!boxes.map(\.ip).contains(fresh.ip), "h\(h) handed out \(fresh.ip) again: \(boxes.map(\.ip).sorted())")
                    boxes.append(fresh)
                }
                let all = try await Self.everyBox(cluster, network: net)
                print("after the heal: \(all.map { "h\($0.host) \($0.name) \($0.ip)" }.sorted())")
                #expect(all.count == boxes.count && Set(all.map(\.ip)).count == all.count, "\(all.map { "h\($0.host) \($0.name) \($0.ip)" }.sorted())")
                try await Self.expectKernelInSync(cluster, boxes: all, network: net)
            }
        }
    }

    /// Host 3's side of the cut: `own` containers from its own range, then one more (its range
    /// used up: it must ask an owner across the cut) and one `--ip across` (an address host 1
    /// owns), both refused with `refusal`.
    static func island(_ cluster: TestCluster, network: String, own: Int, across: String, refusal: String) async throws {
        for i in 0..<own { _ = try await DockerEndToEndTests.runBox(cluster, 3, "cut3-\(i)", network: network) }
        try await expectRefused(cluster, 3, "cut3-more", network: network, message: refusal,
                                "h3, its range used up, asked owners across the cut")
        try await expectRefused(cluster, 3, "cut3-ip", network: network, extra: ["--ip", across], message: refusal,
                                "h3 asked for h1's \(across)")
    }

    /// Hosts 1 and 2's side: four containers from their ranges (host 2 may ask host 1, on its
    /// side), then each asks for `across` (an address host 3 owns) by `--ip`: refused with
    /// `refusal`.
    static func mainland(_ cluster: TestCluster, network: String, across: String, refusal: String) async throws {
        for i in 0..<4 { _ = try await DockerEndToEndTests.runBox(cluster, i % 2 + 1, "cut12-\(i)", network: network) }
        for h in 1...2 {
            try await expectRefused(cluster, h, "cut\(h)-ip", network: network, extra: ["--ip", across], message: refusal,
                                    "h\(h) asked for h3's \(across)")
        }
    }

    /// Every host's VXLAN rows equal the desired ones: the kernel dump against the oracle
    /// (every other host's containers), and the agent's own comparison (`fdb --check`).
    static func expectKernelInSync(_ cluster: TestCluster, boxes: [Box], network: String) async throws {
        for h in 1...3 {
            let want = DockerEndToEndTests.expected(cluster, h, boxes: boxes, hosts: [1, 2, 3])
            try await waitUntil("h\(h)'s kernel rows equal the desired rows", timeout: 60) {
                try await cluster.kernelRows(h, vni: Int(vni)) == want
            }
            #expect(try await cluster.kernelRows(h, vni: Int(vni)) == want)
            #expect(await Self.fdbInSync(cluster, h, network: network), "h\(h): grapevine fdb is not in sync")
        }
    }
}
