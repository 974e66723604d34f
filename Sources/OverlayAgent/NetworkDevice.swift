import Addresses
import Glibc
import Netlink
import Overlay

/// What one network needs in the kernel: a bridge for the containers and a VXLAN device on it.
struct NetworkDevice: Sendable, Hashable {
    var network: NetworkConfiguration
    var settings: VXLANSettings

    init(network: NetworkConfiguration, vtep: IPAddress, port: UInt16, mtu: UInt32) {
        self.network = network
        // nolearning: the agent writes every row; proxy: ARP and NDP are answered from the
        // neighbour rows on this host instead of flooded (Docs/OVERLAY.md).
        self.settings = VXLANSettings(vni: network.vni.value, local: vtep, port: port, learning: false, proxy: true, mtu: mtu)
    }

    /// The bridge's address, fixed so that it never follows its ports' (`createBridge`):
    /// `02:67:76` (locally administered, "gv") and the VNI. The same on every host, like a
    /// distributed anycast gateway: a container that moves keeps its gateway's MAC. Apart from
    /// containers' `02:42` + address.
    var bridgeMAC: MACAddress {
        let v = network.vni.value
        return MACAddress(0x02, 0x67, 0x76, UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v))
    }
}

/// What `ensure` did to a network's devices.
enum DeviceOutcome: Sendable, Equatable {
    /// Both were there as wanted: adopted, rows untouched.
    case adopted
    /// The VXLAN device was missing or had other settings and was made anew: its rows are
    /// gone, so a full reconcile must follow.
    case created
}

/// A network's devices after `ensure`, and what it found and did.
struct EnsuredDevice: Sendable, Equatable {
    var outcome: DeviceOutcome
    var bridgeIndex: Int32
    var vxlanIndex: Int32
    /// The bridge was missing and was made anew (deleted by hand, say).
    var bridgeCreated: Bool
    /// Anything was repaired: a device made, attached, or set up.
    var repaired: Bool
    /// The bridge's ports other than the VXLAN device, after the repair.
    var ports: Set<String>
    /// Ports put back on a bridge made anew.
    var restored: [String]
    /// The VXLAN device's or the bridge's MTU was set to the one wanted (the underlay's changed,
    /// or someone else set another); not a repair of the rows.
    var mtuSet = false
}

extension LinkSocket {
    /// Makes the bridge and VXLAN device of `device` exist, up, the VXLAN device on the bridge
    /// with the settings wanted. An existing device with the right settings is adopted as it is
    /// (a restart keeps every row); one with other settings is deleted and created anew.
    ///
    /// - Parameter ports: the devices that were on the bridge (containers' veths). When the
    ///   bridge has to be made anew, those that still exist and are on no bridge are put back on
    ///   it (a bridge deleted by hand releases its ports, which would otherwise stay cut off).
    func ensure(_ device: NetworkDevice, restoring ports: Set<String> = []) throws(NetlinkError) -> EnsuredDevice {
        let bridgeName = device.network.bridge, vxlanName = device.network.device
        var bridgeCreated = false
        var repaired = false
        if let existing = try link(named: bridgeName) {
            guard existing.kind == "bridge" else {
                throw NetlinkError(operation: "adopt bridge \(bridgeName)", code: -EEXIST, message: "a device of kind \(existing.kind ?? "unknown") has that name")
            }
            // A bridge made before its address was fixed, or given another by hand.
            if existing.mac != device.bridgeMAC {
                try setMAC(bridgeName, device.bridgeMAC)
                repaired = true
            }
        } else {
            try createBridge(named: bridgeName, mac: device.bridgeMAC)
            bridgeCreated = true
            repaired = true
        }
        var outcome = DeviceOutcome.adopted
        if let existing = try link(named: vxlanName) {
            if existing.kind != "vxlan" {
                throw NetlinkError(operation: "adopt vxlan \(vxlanName)", code: -EEXIST, message: "a device of kind \(existing.kind ?? "unknown") has that name")
            }
            if !existing.matches(device.settings) {
                try delete(vxlanName)
                try createVXLAN(named: vxlanName, device.settings)
                outcome = .created
            }
        } else {
            try createVXLAN(named: vxlanName, device.settings)
            outcome = .created
        }
        guard let bridge = try link(named: bridgeName), let vxlan = try link(named: vxlanName) else {
            throw NetlinkError(operation: "ensure \(vxlanName)", code: -ENODEV, message: "device vanished while being set up")
        }
        if vxlan.masterIndex != bridge.ifindex { try attach(vxlanName, toBridge: bridgeName); repaired = true }
        if !vxlan.isUp { try setUp(vxlanName); repaired = true }
        if !bridge.isUp { try setUp(bridgeName); repaired = true }
        // The MTU is set in place (a device made anew would lose its rows), on the bridge too: a
        // bridge left to adjust itself takes its smallest port's, which a container's veth
        // can hold above the overlay's.
        var mtuSet = false
        if let mtu = device.settings.mtu {
            if vxlan.mtu != mtu { try setMTU(vxlanName, mtu); mtuSet = true }
            if bridge.mtu != mtu { try setMTU(bridgeName, mtu); mtuSet = true }
        }
        if outcome == .created { repaired = true }
        var restored: [String] = []
        var attached: Set<String> = []
        for link in try links() where link.ifindex != vxlan.ifindex {
            if link.masterIndex == bridge.ifindex {
                attached.insert(link.name)
            } else if bridgeCreated, link.masterIndex == nil, ports.contains(link.name) {
                try attach(link.name, toBridge: bridgeName)
                attached.insert(link.name)
                restored.append(link.name)
            }
        }
        return EnsuredDevice(outcome: outcome, bridgeIndex: bridge.ifindex, vxlanIndex: vxlan.ifindex,
                             bridgeCreated: bridgeCreated, repaired: repaired, ports: attached, restored: restored.sorted(),
                             mtuSet: mtuSet)
    }
}

extension LinkInfo {
    /// The settings the overlay depends on are the ones wanted (the kernel reads back what it
    /// keeps). The MTU is not compared: `ensure` sets it in place.
    func matches(_ wanted: VXLANSettings) -> Bool {
        guard let have = vxlan else { return false }
        return have.vni == wanted.vni && have.local == wanted.local && have.port == wanted.port
            && have.learning == wanted.learning && have.proxy == wanted.proxy
    }
}

