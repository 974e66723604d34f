import Addresses
import Netlink

/// What the agent knows of the underlay under its VXLAN devices: the device that holds the
/// VTEP address and its MTU (the overlay devices' MTU follows it), and whether the addresses
/// this host is reached at are still on it. Pure: the agent feeds it what the kernel reports
/// and acts on the changes it returns.
struct Underlay: Sendable, Equatable {
    /// The device that holds the VTEP address.
    struct Device: Sendable, Equatable {
        var ifindex: Int32
        var name: String
        /// Bytes.
        var mtu: UInt32
    }

    /// What a notification changed.
    enum Change: Sendable, Equatable {
        case none
        /// The overlay devices' MTU must move from `old` to `new` bytes.
        case mtu(old: UInt32, new: UInt32)
        /// A watched address is on no device of this host any more.
        case lost(IPAddress)
        /// A watched address that was lost is back.
        case back(IPAddress)
    }

    let vtep: IPAddress
    /// `underlay_mtu` when given: it wins over the device's MTU.
    let configuredMTU: Int?
    /// The addresses this host is reached at: the VTEP, and the gossip bind address when it
    /// names one.
    let watched: Set<IPAddress>
    /// The device that held the VTEP address last; nil when none did at start. Kept when the
    /// address goes (its MTU is still the best guess, and the devices keep theirs) until the
    /// address comes back on a device.
    private(set) var device: Device?
    /// Watched addresses no device holds.
    private(set) var missing: Set<IPAddress> = []
    /// Times a watched address went away while the agent ran.
    private(set) var losses: UInt64 = 0

    /// The MTU assumed when neither `underlay_mtu` nor a device says (Ethernet's).
    static let fallbackMTU = 1500

    /// - Parameters:
    ///   - addresses, links: the host's addresses and devices when the agent starts.
    init(vtep: IPAddress, bind: IPAddress?, configuredMTU: Int?, addresses: [InterfaceAddress] = [], links: [LinkInfo] = []) {
        self.vtep = vtep
        self.configuredMTU = configuredMTU
        self.watched = Set([vtep] + (bind.map { [$0] } ?? []))
        let present = Set(addresses.map(\.ip))
        missing = watched.subtracting(present)
        if let holder = addresses.first(where: { $0.ip == vtep }), let link = links.first(where: { $0.ifindex == holder.ifindex }) {
            device = Device(ifindex: link.ifindex, name: link.name, mtu: link.mtu)
        }
    }

    /// The underlay MTU the overlay is sized for: `underlay_mtu`, else the VTEP device's,
    /// else 1500.
    var underlayMTU: Int { configuredMTU ?? device.map { Int($0.mtu) } ?? Self.fallbackMTU }

    /// The MTU the VXLAN devices and bridges get (`AgentConfiguration.deviceMTU(underlay:ipv6:)`).
    var deviceMTU: UInt32 { AgentConfiguration.deviceMTU(underlay: underlayMTU, ipv6: vtep.family != 2) }

    /// `underlay_mtu` is larger than the VTEP device's MTU: full-size overlay packets do not fit
    /// the underlay, and the agent cannot fix that (it follows the configuration).
    var mismatch: Bool {
        guard let configuredMTU, let device else { return false }
        return configuredMTU > Int(device.mtu)
    }

    /// A device changed (RTM_NEWLINK): the VTEP device's MTU is followed unless `underlay_mtu`
    /// is given. A deleted VTEP device changes nothing here: its addresses' removal reports
    /// the loss.
    mutating func observe(_ link: LinkEvent) -> Change {
        guard let current = device, link.ifindex == current.ifindex, !link.removed else { return .none }
        guard let mtu = link.mtu, mtu != current.mtu else { return .none }
        let old = deviceMTU
        device?.mtu = mtu
        if !link.name.isEmpty { device?.name = link.name }
        return deviceMTU == old ? .none : .mtu(old: old, new: deviceMTU)
    }

    /// An address added or removed (RTM_NEWADDR / RTM_DELADDR). `holder` is the device the
    /// kernel reports for an added VTEP address (read by the caller), so that the MTU follows the
    /// device the address moved to.
    mutating func observe(_ event: AddressEvent, holder: LinkInfo? = nil) -> [Change] {
        guard watched.contains(event.ip) else { return [] }
        if event.removed {
            guard missing.insert(event.ip).inserted else { return [] }
            losses += 1
            return [.lost(event.ip)]
        }
        var changes: [Change] = []
        if missing.remove(event.ip) != nil { changes.append(.back(event.ip)) }
        if event.ip == vtep, let holder, holder.ifindex == event.ifindex {
            let old = deviceMTU
            device = Device(ifindex: holder.ifindex, name: holder.name, mtu: holder.mtu)
            if deviceMTU != old { changes.append(.mtu(old: old, new: deviceMTU)) }
        }
        return changes
    }
}
