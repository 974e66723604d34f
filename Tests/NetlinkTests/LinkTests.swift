import GrapevineTestSupport
import Netlink
import Testing

@Suite(KernelTestGate.trait) struct LinkTests {
    @Test func vxlanDeviceIsCreatedReadBackAttachedAndDeleted() async throws {
        try await withNamespaces(["link"]) { names in
            let ns = names[0]
            let links = try LinkSocket(namespace: .named(ns))
            #expect(try links.link(named: "vx0") == nil)
            let settings = VXLANSettings(vni: 4242, local: try ip("192.0.2.1"), port: 4789,
                                         learning: false, proxy: true, mtu: 1400)
            let created = try links.createVXLAN(named: "vx0", settings)
            #expect(created.kind == "vxlan")
            #expect(created.vxlan == settings)
            #expect(!created.isUp)

            // The kernel's own view agrees.
            let details = try sh("ip", "-n", ns, "-d", "link", "show", "vx0")
            for fragment in ["mtu 1400", "vxlan id 4242", "local 192.0.2.1", "dstport 4789", "nolearning", "proxy"] {
                #expect(details.contains(fragment), "\(fragment) in \(details)")
            }

            // A second create with the same name fails instead of silently reusing the device.
            #expect(throws: NetlinkError.self) { try links.createVXLAN(named: "vx0", settings) }

            let bridge = try links.createBridge(named: "br0")
            try links.attach("vx0", toBridge: "br0")
            #expect(try links.link(named: "vx0")?.masterIndex == bridge.ifindex)

            try links.setUp("vx0")
            #expect(try links.link(named: "vx0")?.isUp == true)
            #expect(try sh("ip", "-n", ns, "link", "show", "vx0").contains("UP"))
            try links.setUp("vx0", false)
            #expect(try links.link(named: "vx0")?.isUp == false)

            try links.delete("vx0")
            #expect(try links.link(named: "vx0") == nil)
            let error = #expect(throws: NetlinkError.self) { try links.delete("vx0") }
            #expect(error?.operation == "delete link vx0")
            #expect(error?.message.isEmpty == false)
        }
    }

    @Test func ipv6UnderlayIsReadBack() async throws {
        try await withNamespaces(["link6"]) { names in
            let links = try LinkSocket(namespace: .named(names[0]))
            let settings = VXLANSettings(vni: 7, local: try ip("fd00:77::1"), port: 8472, learning: true, proxy: false)
            let created = try links.createVXLAN(named: "vx6", settings)
            #expect(created.vxlan?.local == settings.local)
            #expect(created.vxlan?.port == 8472)
            #expect(created.vxlan?.learning == true)
            #expect(created.vxlan?.proxy == false)
        }
    }

    @Test func vethPairIsCreatedWithItsMTUAndPeerMAC() async throws {
        try await withNamespaces(["veth"]) { names in
            let ns = names[0]
            let links = try LinkSocket(namespace: .named(ns))
            let mac = MACAddress("02:42:0a:0a:0a:02")!
            let created = try links.createVeth(named: "gvh0", peer: "gvc0", mtu: 1450, peerMAC: mac)
            #expect(created.kind == "veth")
            #expect(created.mtu == 1450)
            #expect(try links.link(named: "gvc0")?.mtu == 1450)
            #expect(try sh("ip", "-n", ns, "link", "show", "gvc0").contains("link/ether 02:42:0a:0a:0a:02"))
            #expect(throws: NetlinkError.self) { try links.createVeth(named: "gvh0", peer: "gvc1", mtu: 1450) }
            _ = try links.createBridge(named: "br0")
            try links.attach("gvh0", toBridge: "br0")
            try links.setUp("gvh0")
            // Deleting one end deletes the pair.
            try links.delete("gvh0")
            #expect(try links.link(named: "gvc0") == nil)
        }
    }

    /// A bridge left to itself takes its lowest port's address, so a container added changes
    /// the MAC its neighbours cached for the bridge (the gateway, the name server's address); a
    /// bridge whose address was set keeps it (the name-resolution outages `agent-bench names`
    /// found: 5 to 35 s).
    @Test func aBridgeWithASetAddressKeepsItWhenALowerPortJoins() async throws {
        try await withNamespaces(["brmac"]) { names in
            let links = try LinkSocket(namespace: .named(names[0]))
            let fixed = MACAddress("02:67:76:00:03:09")!
            #expect(try links.createBridge(named: "brf", mac: fixed).mac == fixed)
            _ = try links.createBridge(named: "bra")
            for (bridge, port, mac) in [("brf", "pf", "02:00:00:00:00:01"), ("bra", "pa", "02:00:00:00:00:02")] {
                try links.createVeth(named: port, peer: port + "x", mtu: 1500)
                try links.setMAC(port, MACAddress(mac)!)
                try links.attach(port, toBridge: bridge)
            }
            #expect(try links.link(named: "brf")?.mac == fixed)
            #expect(try links.link(named: "bra")?.mac == MACAddress("02:00:00:00:00:02"), "the trap: the port's address")
            try links.setMAC("bra", fixed)
            try links.createVeth(named: "pb", peer: "pbx", mtu: 1500)
            try links.setMAC("pb", MACAddress("02:00:00:00:00:00")!)
            try links.attach("pb", toBridge: "bra")
            #expect(try links.link(named: "bra")?.mac == fixed, "an address set later holds too")
        }
    }
}
