import Foundation
import GrapevineTestSupport
import Testing

/// The agent follows the underlay (issue 20, "The host's own underlay address changes";
/// issue 22, MTU): real agents in namespaces whose underlay MTU and addresses the test changes.
@Suite(.serialized, KernelTestGate.trait)
struct UnderlayEndToEndTests {
    static let blue = "blue:100"
    static let noTimer = ["--reconcile-interval", "3600"]

    /// A DF ping of `size` bytes of IP packet from `a` to `b` (ICMP payload = size − 28).
    static func dfPing(_ cluster: TestCluster, from a: TestCluster.Container, to b: TestCluster.Container, size: Int) -> Bool {
        (try? run(["ip", "netns", "exec", a.namespace, "ping", "-M", "do", "-s", "\(size - 28)", "-c", "1", "-W", "1", b.ip])) != nil
    }

    static func mtu(_ cluster: TestCluster, _ host: Int, _ device: String) throws -> Int? {
        let shown = try sh("ip", "-n", cluster.namespace(host), "-o", "link", "show", device)
        guard let range = shown.range(of: "mtu ") else { return nil }
        return Int(shown[range.upperBound...].prefix { $0.isNumber })
    }

    /// The overlay devices get the underlay's MTU less 50 (IPv4 underlay), and exactly that
    /// much crosses hosts: a don't-fragment ping of the overlay MTU passes, one byte more is
    /// dropped (the containers' own MTU is larger, so it is the overlay that drops it).
    @Test(arguments: [1400, 9000])
    func theOverlayMTUIsTheUnderlaysLessTheEncapsulation(underlay: Int) async throws {
        try await TestCluster.with(hosts: 2, networks: [1: [Self.blue], 2: [Self.blue]]) { cluster in
            try cluster.setUnderlayMTU(underlay, hosts: [1, 2])
            for h in 1...2 { try await cluster.startAgent(h) }
            let overlay = underlay - 50
            for h in 1...2 {
                #expect(try Self.mtu(cluster, h, "gvx100") == overlay)
                #expect(try Self.mtu(cluster, h, "gvbr100") == overlay)
            }
            let a = try await cluster.addContainer(host: 1, network: "blue", vni: 100, mac: "02:00:00:00:01:01", ip: "10.10.100.11",
                                                   mtu: overlay + 50)
            let b = try await cluster.addContainer(host: 2, network: "blue", vni: 100, mac: "02:00:00:00:02:01", ip: "10.10.100.21",
                                                   mtu: overlay + 50)
            try await waitUntil("a DF ping of \(overlay) bytes crosses", timeout: 60) { Self.dfPing(cluster, from: a, to: b, size: overlay) }
            #expect(!Self.dfPing(cluster, from: a, to: b, size: overlay + 1))
            #expect(Self.dfPing(cluster, from: a, to: b, size: overlay))
            let info = try await cluster.cli(1, "info", "--format", "json")
            #expect(info.contains("\"overlayMTU\":\(overlay)") || info.contains("\"overlayMTU\" : \(overlay)"), "\(info)")
        }
    }

    /// The underlay's MTU lowered while the agents run: the devices and bridge follow at once
    /// (no timed reconcile for an hour), and the change is counted.
    @Test func anUnderlayMTULoweredAtRunTimeIsFollowed() async throws {
        try await TestCluster.with(hosts: 2, networks: [1: [Self.blue], 2: [Self.blue]]) { cluster in
            for h in 1...2 { try await cluster.startAgent(h, extra: Self.noTimer) }
            #expect(try Self.mtu(cluster, 1, "gvx100") == 1450)
            try cluster.setUnderlayMTU(1300, hosts: [1, 2])
            try await waitUntil("h1's devices follow the underlay to 1250", timeout: 60) {
                try Self.mtu(cluster, 1, "gvx100") == 1250 && Self.mtu(cluster, 1, "gvbr100") == 1250
            }
            let a = try await cluster.addContainer(host: 1, network: "blue", vni: 100, mac: "02:00:00:00:01:01", ip: "10.10.100.11",
                                                   mtu: 1300)
            let b = try await cluster.addContainer(host: 2, network: "blue", vni: 100, mac: "02:00:00:00:02:01", ip: "10.10.100.21",
                                                   mtu: 1300)
            try await waitUntil("a DF ping of 1250 bytes crosses", timeout: 60) { Self.dfPing(cluster, from: a, to: b, size: 1250) }
            #expect(!Self.dfPing(cluster, from: a, to: b, size: 1251))
            let metrics = try run(["curl", "-sS", "--unix-socket", cluster.socket(1), "http://localhost/metrics"])
            #expect(metrics.contains("grapevine_underlay_mtu_changes_total 1"), "\(metrics)")
            #expect(metrics.contains("grapevine_overlay_mtu_bytes 1250.0"))
        }
    }

    /// An explicit underlay_mtu larger than the device's: kept (the operator's word), but a
    /// warning, a metric and a problem line in `grapevine info`.
    @Test func anUnderlayMTUAboveTheDevicesIsReported() async throws {
        try await TestCluster.with(hosts: 1, networks: [1: [Self.blue]]) { cluster in
            try cluster.setUnderlayMTU(1400, hosts: [1])
            try await cluster.startAgent(1, extra: ["--underlay-mtu", "1500"])
            #expect(try Self.mtu(cluster, 1, "gvx100") == 1450)
            let info = try await cluster.cli(1, "info")
            #expect(info.contains("PROBLEM") && info.contains("underlay_mtu 1500 is larger than eth0's MTU 1400"), "\(info)")
            let metrics = try run(["curl", "-sS", "--unix-socket", cluster.socket(1), "http://localhost/metrics"])
            #expect(metrics.contains("grapevine_underlay_mtu_mismatch 1.0"), "\(metrics)")
            #expect(try String(contentsOfFile: cluster.log(1), encoding: .utf8).contains("is larger than the MTU of eth0"))
        }
    }

    /// The VTEP/bind address removed from the host (a DHCP renumbering): reported once at
    /// error level, counted, and shown in `grapevine info` until it is back.
    @Test func anUnderlayAddressRemovedIsReportedLoudly() async throws {
        try await TestCluster.with(hosts: 1, networks: [1: [Self.blue]]) { cluster in
            try await cluster.startAgent(1, extra: Self.noTimer)
            let ns = cluster.namespace(1)
            try sh("ip", "-n", ns, "addr", "del", "\(cluster.underlay(1))/24", "dev", "eth0")
            try await waitUntil("info shows the address missing", timeout: 60) {
                try await cluster.cli(1, "info").contains("address \(cluster.underlay(1)) is on no device of this host")
            }
            let metrics = try run(["curl", "-sS", "--unix-socket", cluster.socket(1), "http://localhost/metrics"])
            #expect(metrics.contains("grapevine_underlay_address_losses_total 1"), "\(metrics)")
            #expect(metrics.contains("grapevine_underlay_addresses_missing 1.0"))
            let log = try String(contentsOfFile: cluster.log(1), encoding: .utf8)
            #expect(log.components(separatedBy: "underlay address \(cluster.underlay(1)) was removed").count == 2, "\(log)")
            #expect(log.contains("Restart the agent at the host's new"))

            try sh("ip", "-n", ns, "addr", "add", "\(cluster.underlay(1))/24", "dev", "eth0")
            try await waitUntil("info shows the address back", timeout: 60) {
                try await !cluster.cli(1, "info").contains("PROBLEM")
            }
            let after = try run(["curl", "-sS", "--unix-socket", cluster.socket(1), "http://localhost/metrics"])
            #expect(after.contains("grapevine_underlay_addresses_missing 0.0"))
            #expect(after.contains("grapevine_underlay_address_losses_total 1"))
        }
    }

    /// A host renumbered while its agent runs, as DHCP does: the agent reports it, and once
    /// restarted at the new address (its goodbye cannot leave: its address is gone, so the
    /// others still hold it alive at the old one) it is not refused, the others see it alive
    /// there, their rows point at its new VTEP only, and containers reach each other again.
    @Test func anAgentRestartedAtItsHostsNewAddressIsAcceptedAndCarriesTraffic() async throws {
        try await TestCluster.with(hosts: 2, networks: [1: [Self.blue], 2: [Self.blue]]) { cluster in
            try await cluster.startAgent(1)
            try await cluster.startAgent(2)
            let a = try await cluster.addContainer(host: 1, network: "blue", vni: 100, mac: "02:00:00:00:01:01", ip: "10.10.100.11")
            let b = try await cluster.addContainer(host: 2, network: "blue", vni: 100, mac: "02:00:00:00:02:01", ip: "10.10.100.12")
            try await waitUntil("a reaches b", timeout: 60) { await cluster.ping(from: a, to: b) }
            let old = cluster.underlay(2)
            try cluster.renumber(2)
            let new = cluster.underlay(2)
            try await waitUntil("h2 reports its address gone", timeout: 60) {
                try await cluster.cli(2, "info").contains("address \(old) is on no device of this host")
            }
            await cluster.stopAgent(2)
            try await cluster.startAgent(2)
            try await waitUntil("h1 holds h2 alive at \(new)", timeout: 60) {
                let members = try await cluster.cli(1, "members", "--status", "alive")
                return members.split(separator: "\n").contains { $0.contains("h2") && $0.contains(new) }
            }
            try await waitUntil("h1's rows point at \(new)", timeout: 60) {
                let rows = try await cluster.kernelRows(1, vni: 100)
                return rows.flood == [new] && rows.unicast[b.mac] == new
            }
            try await waitUntil("a reaches b again", timeout: 60) { await cluster.ping(from: a, to: b) }
            let log = try String(contentsOfFile: cluster.log(2), encoding: .utf8)
            #expect(!log.contains("name_conflict"), "\(log)")
        }
    }
}
