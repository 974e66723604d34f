import GrapevineTestSupport
import Netlink
import Testing

/// Two hosts joined by a veth underlay, each with a bridge, a VXLAN device (learning off) and one
/// container. Only rows written by this module tell each host where the other container is.
@Suite(KernelTestGate.trait) struct EndToEndTests {
    struct Side {
        let host: String
        let container: String
        let underlay: String
        let peerUnderlay: String
        let containerIP: String
        let containerMAC: String
    }

    @Test func containersOnTwoHostsPingThroughRowsWrittenByTheModule() async throws {
        try await withNamespaces(["h1", "h2", "c1", "c2"]) { names in
            let (h1, h2, c1, c2) = (names[0], names[1], names[2], names[3])
            // Underlay: one veth pair between the hosts.
            try sh("ip", "-n", h1, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", h2)
            let sides = [
                Side(host: h1, container: c1, underlay: "192.168.77.1", peerUnderlay: "192.168.77.2",
                     containerIP: "10.77.0.1", containerMAC: "02:00:00:77:00:01"),
                Side(host: h2, container: c2, underlay: "192.168.77.2", peerUnderlay: "192.168.77.1",
                     containerIP: "10.77.0.2", containerMAC: "02:00:00:77:00:02"),
            ]
            for side in sides {
                try sh("ip", "-n", side.host, "addr", "add", side.underlay + "/24", "dev", "ul0")
                try sh("ip", "-n", side.host, "link", "set", "ul0", "up")
                // Container: a veth whose host end goes into the bridge.
                try sh("ip", "-n", side.host, "link", "add", "ct0", "type", "veth", "peer", "name", "eth0", "netns", side.container)
                try sh("ip", "-n", side.container, "link", "set", "eth0", "address", side.containerMAC, "mtu", "1450")
                try sh("ip", "-n", side.container, "addr", "add", side.containerIP + "/24", "dev", "eth0")
                try sh("ip", "-n", side.container, "link", "set", "eth0", "up")
                try sh("ip", "-n", side.container, "link", "set", "lo", "up")

                let links = try LinkSocket(namespace: .named(side.host))
                try links.createVXLAN(named: "vx0", VXLANSettings(vni: 77, local: try ip(side.underlay), port: 4789,
                                                                  learning: false, proxy: true, mtu: 1450))
                try links.createBridge(named: "br0")
                try links.attach("vx0", toBridge: "br0")
                try links.attach("ct0", toBridge: "br0")
                for name in ["vx0", "ct0", "br0"] { try links.setUp(name) }
                #expect(try links.link(named: "vx0")?.vxlan?.learning == false)
            }

            // Before any row: no path (also proves nothing else is carrying the traffic).
            #expect(!succeeds("ip", "netns", "exec", c1, "ping", "-c", "1", "-W", "1", "10.77.0.2"))

            for (side, other) in [(sides[0], sides[1]), (sides[1], sides[0])] {
                let table = try VXLANTable(namespace: .named(side.host))
                let links = try LinkSocket(namespace: .named(side.host))
                let dev = try #require(try links.link(named: "vx0")).ifindex
                let remote = try ip(other.underlay)
                let report = try table.apply([
                    .putFDB(FDBEntry(mac: try mac(other.containerMAC), destination: remote)),
                    .putFDB(.flood(to: remote)),
                    .putNeighbor(NeighborEntry(ip: try ip(other.containerIP), mac: try mac(other.containerMAC))),
                ], device: dev)
                #expect(report.allApplied, "\(report.failures)")
            }

            var replied = false
            for _ in 0..<5 where !replied {
                replied = succeeds("ip", "netns", "exec", c1, "ping", "-c", "1", "-W", "1", "10.77.0.2")
            }
            #expect(replied, "c1 could not ping c2 over the overlay")
            #expect(succeeds("ip", "netns", "exec", c2, "ping", "-c", "1", "-W", "1", "10.77.0.1"))

            // Learning is off: the only rows on the VXLAN devices are the three we wrote.
            for side in sides {
                let table = try VXLANTable(namespace: .named(side.host))
                let dev = try #require(try LinkSocket(namespace: .named(side.host)).link(named: "vx0")).ifindex
                let rows = try table.fdbRows(device: dev)
                #expect(rows.count == 2 && rows.allSatisfy { $0.isOurs }, "\(rows)")
            }
        }
    }
}
