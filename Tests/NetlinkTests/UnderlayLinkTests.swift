import GrapevineTestSupport
import Netlink
import Testing

/// What the agent reads of the underlay: the device that holds an address, its MTU set and
/// read back, and the notifications of an MTU changed or an address removed and added.
@Suite(KernelTestGate.trait) struct UnderlayLinkTests {
    @Test func theDeviceHoldingAnAddressIsFoundAndItsMTUSet() async throws {
        try await withNamespaces(["ulink"]) { names in
            let ns = names[0]
            try sh("ip", "-n", ns, "link", "add", "ul0", "mtu", "1400", "type", "veth", "peer", "name", "ul1")
            try sh("ip", "-n", ns, "addr", "add", "10.88.0.1/24", "dev", "ul0")
            try sh("ip", "-n", ns, "addr", "add", "fd00:88::1/64", "dev", "ul1", "nodad")
            let links = try LinkSocket(namespace: .named(ns))
            let addresses = try links.addresses()
            #expect(addresses.contains { $0.ip == IPAddress("10.88.0.1") })
            #expect(addresses.contains { $0.ip == IPAddress("fd00:88::1") })
            let holder = try links.link(holding: try ip("10.88.0.1"))
            #expect(holder?.name == "ul0")
            #expect(holder?.mtu == 1400)
            #expect(try links.link(holding: try ip("fd00:88::1"))?.name == "ul1")
            #expect(try links.link(holding: try ip("10.88.0.2")) == nil)
            #expect(try links.link(index: holder?.ifindex ?? 0)?.name == "ul0")
            #expect(try links.link(index: 99_999) == nil)

            try links.setMTU("ul0", 1300)
            #expect(try links.link(named: "ul0")?.mtu == 1300)
            #expect(try sh("ip", "-n", ns, "link", "show", "ul0").contains("mtu 1300"))
            // Below IPv4's minimum: refused with the kernel's error, not ignored.
            #expect(throws: NetlinkError.self) { try links.setMTU("ul0", 20) }
            #expect(throws: NetlinkError.self) { try links.setMTU("missing0", 1300) }
        }
    }

    @Test func anMTUChangeAndAnAddressRemovedAndAddedAreNotified() async throws {
        try await withNamespaces(["ulmon"]) { names in
            let ns = names[0]
            try sh("ip", "-n", ns, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1")
            try sh("ip", "-n", ns, "addr", "add", "10.88.0.1/24", "dev", "ul0")
            let index = try #require(try LinkSocket(namespace: .named(ns)).link(named: "ul0")).ifindex
            let address = try ip("10.88.0.1")

            let mtuMonitor = try NeighborMonitor(namespace: .named(ns), links: true)
            try sh("ip", "-n", ns, "link", "set", "ul0", "mtu", "1234")
            let mtuEvent = await firstEvent(mtuMonitor, within: 5) {
                if case .link(let link) = $0 { return link.ifindex == index && link.mtu == 1234 } else { return false }
            }
            #expect(mtuEvent != nil)

            let removedMonitor = try NeighborMonitor(namespace: .named(ns), addresses: true)
            try sh("ip", "-n", ns, "addr", "del", "10.88.0.1/24", "dev", "ul0")
            let removed = await firstEvent(removedMonitor, within: 5) {
                if case .address(let a) = $0 { return a.ip == address } else { return false }
            }
            #expect(removed == .address(AddressEvent(ifindex: index, ip: address, removed: true)))

            let addedMonitor = try NeighborMonitor(namespace: .named(ns), addresses: true)
            try sh("ip", "-n", ns, "addr", "add", "10.88.0.1/24", "dev", "ul0")
            let added = await firstEvent(addedMonitor, within: 5) {
                if case .address(let a) = $0 { return a.ip == address } else { return false }
            }
            #expect(added == .address(AddressEvent(ifindex: index, ip: address, removed: false)))

            // Without `addresses`, no address notification.
            let quiet = try NeighborMonitor(namespace: .named(ns), links: true)
            try sh("ip", "-n", ns, "addr", "del", "10.88.0.1/24", "dev", "ul0")
            try sh("ip", "-n", ns, "link", "set", "ul0", "mtu", "1300")
            let first = await firstEvent(quiet, within: 5) {
                switch $0 {
                case .address: true
                case .link(let link): link.mtu == 1300
                default: false
                }
            }
            guard case .link = first else {
                Issue.record("expected the MTU change first, without an address event: \(String(describing: first))")
                return
            }
        }
    }
}
