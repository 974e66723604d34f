import Addresses
import Gossip
import GrapevineAPI
import Netlink

/// The agent follows the underlay under its VXLAN devices (`Underlay`): their MTU is the VTEP
/// device's less the encapsulation (unless `underlay_mtu` says), set anew when that device's
/// MTU changes; a VTEP or bind address removed from the host is reported loudly (log, metric,
/// `grapevine info`), since peers keep sending to it until the agent restarts at the new one.
extension OverlayController {
    /// The gossip bind address when it names one (not 0.0.0.0 or ::).
    static func specificBindAddress(_ configuration: AgentConfiguration) -> IPAddress? {
        guard let a = Address(parsing: configuration.bind, defaultPort: 7946), !a.isUnspecified else { return nil }
        return IPAddress(bytes: a.bytes)
    }

    /// At start, before any device is made: reads the host's addresses and devices, sizes every
    /// network's devices by them, and says what it found. A netlink error leaves the sizes from
    /// the configuration (1500 less the encapsulation without `underlay_mtu`).
    func readUnderlay() async {
        do {
            let (addresses, links) = try await kernel.run { links, _ throws(NetlinkError) in (try links.addresses(), try links.links()) }
            underlay = Underlay(vtep: vtep, bind: Self.specificBindAddress(configuration), configuredMTU: configuration.underlayMTU,
                                addresses: addresses, links: links)
        } catch {
            netlinkError("underlay", error)
        }
        for vni in devices.keys { devices[vni]?.settings.mtu = deviceMTU(for: vni) }
        logger.info("underlay", metadata: [
            "underlay.device": "\(underlay.device?.name ?? "none")", "underlay.mtu": "\(underlay.underlayMTU)",
            "underlay.configured_mtu": "\(configuration.underlayMTU.map { "\($0)" } ?? "none")",
            "overlay.mtu": "\(underlay.deviceMTU)",
        ])
        if underlay.device == nil {
            logger.warning("no device of this host holds the VTEP address; the overlay MTU assumes an underlay of \(underlay.underlayMTU) bytes",
                           metadata: ["agent.vtep": "\(vtep)"])
        }
        for address in underlay.missing.sorted(by: { "\($0)" < "\($1)" }) where address != vtep || underlay.device != nil {
            logger.error("an address this agent is reached at is on no device of this host",
                         metadata: ["underlay.address": "\(address)"])
        }
        warnIfMismatched()
        publishUnderlay()
    }

    /// Reads the watched addresses and the VTEP device again and feeds what changed as
    /// notifications would have: after a monitor is opened (what happened before it is
    /// unseen) and after notifications were lost.
    func resyncUnderlay() async {
        let addresses: [InterfaceAddress], links: [LinkInfo]
        do {
            (addresses, links) = try await kernel.run { links, _ throws(NetlinkError) in (try links.addresses(), try links.links()) }
        } catch {
            netlinkError("underlay", error)
            return
        }
        let mismatched = underlay.mismatch
        for address in underlay.watched.sorted(by: { "\($0)" < "\($1)" }) {
            let event: AddressEvent
            var holder: LinkInfo?
            if let found = addresses.first(where: { $0.ip == address }) {
                event = AddressEvent(ifindex: found.ifindex, ip: address, removed: false)
                holder = links.first { $0.ifindex == found.ifindex }
            } else {
                event = AddressEvent(ifindex: 0, ip: address, removed: true)
            }
            for change in underlay.observe(event, holder: holder) { apply(change) }
        }
        if underlay.mismatch != mismatched { warnIfMismatched() }
        publishUnderlay()
    }

    /// A device changed: the VTEP device's new MTU is followed by every network's devices.
    func observeUnderlay(_ link: LinkEvent) {
        let mismatched = underlay.mismatch
        apply(underlay.observe(link))
        if underlay.mismatch != mismatched { warnIfMismatched() }
        publishUnderlay()
    }

    /// An address was added or removed. For the VTEP address added, the device now holding it
    /// is read, so that the MTU follows the device the address came back on.
    func observeUnderlay(_ event: AddressEvent) async {
        guard underlay.watched.contains(event.ip) else { return }
        var holder: LinkInfo?
        if !event.removed, event.ip == vtep {
            let index = event.ifindex
            do { holder = try await kernel.run { links, _ throws(NetlinkError) in try links.link(index: index) } } catch {
                netlinkError("underlay", error)
            }
        }
        let mismatched = underlay.mismatch
        for change in underlay.observe(event, holder: holder) { apply(change) }
        if underlay.mismatch != mismatched { warnIfMismatched() }
        publishUnderlay()
    }

    private func apply(_ change: Underlay.Change) {
        switch change {
        case .none:
            break
        case .mtu(let old, let new):
            metrics.underlayMTUChanged()
            logger.warning("the underlay's MTU changed; the overlay devices follow", metadata: [
                "underlay.device": "\(underlay.device?.name ?? "none")", "underlay.mtu": "\(underlay.underlayMTU)",
                "overlay.mtu_before": "\(old)", "overlay.mtu": "\(new)",
            ])
            for vni in devices.keys {
                devices[vni]?.settings.mtu = deviceMTU(for: vni)
                ensureWanted.insert(vni)
                schedule(vni, .device)
            }
        case .lost(let address):
            metrics.underlayAddressLost()
            logger.error("""
                this host's underlay address \(address) was removed: peers keep sending overlay traffic and gossip \
                to it, and this host's containers are cut off from other hosts. Restart the agent at the host's new \
                address (update bind/advertise/vtep if they name it)
                """, metadata: ["underlay.address": "\(address)", "agent.vtep": "\(vtep)"])
        case .back(let address):
            logger.warning("this host's underlay address is back", metadata: ["underlay.address": "\(address)"])
        }
    }

    private func warnIfMismatched() {
        guard underlay.mismatch, let device = underlay.device else {
            return
        }
        logger.warning("""
            underlay_mtu \(configuration.underlayMTU ?? 0) is larger than the MTU of \(device.name) (\(device.mtu)), which \
            holds the VTEP address: full-size overlay packets are lost. Lower underlay_mtu, or leave it out to follow the device
            """, metadata: ["underlay.device": "\(device.name)", "underlay.device_mtu": "\(device.mtu)"])
    }

    private func publishUnderlay() {
        metrics.setUnderlay(underlayMTU: underlay.underlayMTU, overlayMTU: underlay.deviceMTU, mismatch: underlay.mismatch,
                            missing: underlay.missing.count)
    }

    /// `grapevine info`'s underlay lines.
    func underlayView() -> UnderlayView {
        var problems: [String] = []
        if underlay.mismatch, let device = underlay.device {
            problems.append("underlay_mtu \(configuration.underlayMTU ?? 0) is larger than \(device.name)'s MTU \(device.mtu): full-size overlay packets are lost; lower underlay_mtu or leave it out")
        }
        let missing = underlay.missing.map { "\($0)" }.sorted()
        for address in missing {
            problems.append("address \(address) is on no device of this host: peers still send to it; restart the agent at the host's new address")
        }
        return UnderlayView(device: underlay.device?.name, deviceMTU: underlay.device?.mtu, configuredMTU: configuration.underlayMTU,
                            overlayMTU: underlay.deviceMTU, missingAddresses: missing, addressLosses: underlay.losses,
                            problems: problems)
    }
}
