import Addresses
import Netlink
@testable import OverlayAgent
import Testing

/// The underlay as the agent follows it (`Underlay`), fed notifications by hand.
struct UnderlayTests {
    static let vtep = IPAddress("10.77.0.1")!
    static let eth0 = LinkInfo(name: "eth0", ifindex: 2, mtu: 1400, isUp: true)

    static func underlay(configured: Int? = nil, mtu: UInt32 = 1400, vtep: IPAddress = vtep) -> Underlay {
        var link = eth0
        link.mtu = mtu
        return Underlay(vtep: vtep, bind: vtep, configuredMTU: configured,
                        addresses: [InterfaceAddress(ifindex: 2, ip: vtep)], links: [link])
    }

    @Test(arguments: [(UInt32(1400), UInt32(1350)), (9000, 8950), (1500, 1450), (65536, 65485)])
    func theOverlayMTUIsTheDevicesLessFiftyOverIPv4(device: UInt32, overlay: UInt32) {
        let u = Self.underlay(mtu: device)
        #expect(u.device?.name == "eth0")
        #expect(u.deviceMTU == overlay)
        #expect(!u.mismatch)
        #expect(u.missing.isEmpty)
    }

    @Test func anIPv6UnderlayLosesSeventy() {
        let v6 = IPAddress("fd00:77::1")!
        #expect(Self.underlay(mtu: 1500, vtep: v6).deviceMTU == 1430)
    }

    @Test func anExplicitUnderlayMTUWinsAndALargerOneIsAMismatch() {
        let smaller = Self.underlay(configured: 1300, mtu: 1400)
        #expect(smaller.deviceMTU == 1250)
        #expect(!smaller.mismatch)
        let larger = Self.underlay(configured: 1500, mtu: 1400)
        #expect(larger.deviceMTU == 1450)
        #expect(larger.mismatch)
    }

    @Test func withoutADeviceTheOverlayAssumes1500() {
        let u = Underlay(vtep: Self.vtep, bind: nil, configuredMTU: nil)
        #expect(u.device == nil)
        #expect(u.deviceMTU == 1450)
        #expect(u.missing == [Self.vtep])
    }

    @Test func theDevicesMTUIsFollowedUnlessConfigured() {
        var u = Self.underlay()
        let lowered = LinkEvent(ifindex: 2, name: "eth0", masterIndex: nil, isUp: true, removed: false, mtu: 1300)
        #expect(u.observe(lowered) == .mtu(old: 1350, new: 1250))
        #expect(u.observe(lowered) == .none)
        // Another device's MTU, or a notification without one, changes nothing.
        #expect(u.observe(LinkEvent(ifindex: 3, name: "eth1", masterIndex: nil, isUp: true, removed: false, mtu: 9000)) == .none)
        #expect(u.observe(LinkEvent(ifindex: 2, name: "eth0", masterIndex: nil, isUp: true, removed: false)) == .none)
        #expect(u.deviceMTU == 1250)

        var configured = Self.underlay(configured: 1400)
        #expect(configured.observe(lowered) == .none)
        #expect(configured.deviceMTU == 1350)
        #expect(configured.mismatch)
    }

    @Test func aRemovedAddressIsLostOnceAndComesBack() {
        var u = Self.underlay()
        let removed = AddressEvent(ifindex: 2, ip: Self.vtep, removed: true)
        #expect(u.observe(removed) == [.lost(Self.vtep)])
        #expect(u.observe(removed) == [])
        #expect(u.losses == 1)
        #expect(u.missing == [Self.vtep])
        // The last device's MTU stays the best guess while the address is away.
        #expect(u.device?.name == "eth0")
        #expect(u.deviceMTU == 1350)
        // Another address of the host is not watched.
        #expect(u.observe(AddressEvent(ifindex: 2, ip: IPAddress("10.77.0.9")!, removed: true)) == [])
        // Back on another device with another MTU: the overlay follows that device.
        let eth1 = LinkInfo(name: "eth1", ifindex: 3, mtu: 9000, isUp: true)
        #expect(u.observe(AddressEvent(ifindex: 3, ip: Self.vtep, removed: false), holder: eth1)
                == [.back(Self.vtep), .mtu(old: 1350, new: 8950)])
        #expect(u.missing.isEmpty)
        #expect(u.device?.name == "eth1")
        #expect(u.losses == 1)
    }
}
