import Addresses
import Gossip
import Overlay

extension OverlayController {
    /// Registers, persists and publishes a local endpoint (`AgentControl.addEndpoint`): the
    /// registry does (`EndpointRegistry.add`: on disk and published when it returns, nothing
    /// of it anywhere when it throws). Then the bridge forgets what it learned for the MAC on
    /// the VXLAN port: the MAC is local now, and such a row would send its frames into the
    /// overlay.
    /// - Parameter vni: the network by VNI, whatever its name is now (the Docker driver: a
    ///   network is named once dockerd has stored it, maybe while an endpoint of it is made);
    ///   nil: by `request.network`.
    func registerEndpoint(_ request: EndpointRequest, vni: VNI? = nil) async throws(AgentError) -> EndpointView {
        guard let network = vni.map({ devices[$0]?.network }) ?? networksByName[request.network] else {
            throw .notFound("unknown_network", "no network named '\(request.network)' (configured: \(networksByName.keys.sorted().joined(separator: ", ")))")
        }
        guard let mac = MACAddress(request.mac) else { throw .badRequest("bad_mac", "'\(request.mac)' is not a MAC address (aa:bb:cc:dd:ee:ff)") }
        guard !mac.isZero, !mac.isMulticast else { throw .badRequest("bad_mac", "\(mac) is not a unicast MAC address") }
        let ipv4 = try Self.address(request.ip, family: 4, field: "ip")
        let ipv6 = try Self.address(request.ip6, family: 6, field: "ip6")
        // Other hosts' claims, as the replica shows them now; this host's own are checked by
        // the registry, in order with the other adds.
        for ip in [ipv4, ipv6].compactMap({ $0 }) {
            if let holder = remoteHolderOf(ip, in: network.vni) {
                throw .conflict("ip_in_use", "\(ip) is already held in network \(network.name) by \(holder)")
            }
        }
        let stored = try await registry.add(EndpointRegistry.Draft(network: network.name, vni: network.vni, mac: mac,
                                                                   ipv4: ipv4, ipv6: ipv6, name: request.name))
        logger.info("endpoint added", metadata: ["endpoint.network": "\(network.name)", "endpoint.mac": "\(mac)",
                                                 "endpoint.ip": "\(ipv4.map { "\($0)" } ?? "-")"])
        if let device = devices[network.vni] {
            do { try await kernel.forgetLearned(mac, on: device) } catch {
                netlinkError("forget learned", error)
                ensureWanted.insert(network.vni)
                schedule(network.vni, .error)
            }
        }
        await announce([ipv4, ipv6].compactMap { $0 }, at: mac, in: network.vni)
        replicaChanged = true
        wake.yield()
        return Self.view(stored)
    }

    /// Announces that `ips` are at `mac` to the containers of every other host in the network
    /// (`AddressAnnouncement`), so that one that cached another MAC for them (the address moved)
    /// follows at once. A failed send is logged: caches then follow when they expire.
    func announce(_ ips: [IPAddress], at mac: MACAddress, in vni: VNI) async {
        let vteps = (desired.networks[vni]?.flood ?? []).sorted()
        guard !vteps.isEmpty else { return }
        for ip in ips {
            let failed = await kernel.announce(AddressAnnouncement.frame(ip, at: mac), vni: vni.value,
                                               to: vteps, port: UInt16(configuration.vxlanPort))
            for (vtep, error) in failed {
                logger.warning("address announcement not sent", metadata: ["endpoint.ip": "\(ip)", "announce.vtep": "\(vtep)", "announce.error": "\(error)"])
            }
        }
    }

    /// - Parameter vni: as `registerEndpoint`'s.
    func unregisterEndpoint(network name: String, mac text: String, vni: VNI? = nil) async throws(AgentError) {
        guard let network = vni.map({ devices[$0]?.network }) ?? networksByName[name] else {
            throw .notFound("unknown_network", "no network named '\(name)'")
        }
        guard let mac = MACAddress(text) else { throw .badRequest("bad_mac", "'\(text)' is not a MAC address") }
        try await registry.remove(EndpointKey(network: network.vni.value, mac: mac.description), network: network.name)
        logger.info("endpoint removed", metadata: ["endpoint.network": "\(network.name)", "endpoint.mac": "\(mac)"])
    }

    /// Who holds `ip` in `network`: this host's registry, or a live host's winning claim.
    func holderOf(_ ip: IPAddress, in network: VNI) -> String? {
        let text = ip.description
        for e in registry.endpoints(in: network.value) where e.ip == text || e.ip6 == text {
            return "this host (\(e.mac))"
        }
        return remoteHolderOf(ip, in: network)
    }

    /// Which live host other than this one holds `ip` in `network`, as the replica shows it.
    func remoteHolderOf(_ ip: IPAddress, in network: VNI) -> String? {
        for e in replica.endpoints.values where e.network == network && e.owner != configuration.name && e.ips.contains(ip) {
            if replica.hosts[e.owner]?.live == true { return "\(e.owner) (\(e.mac))" }
        }
        return nil
    }

    static func view(_ s: StoredEndpoint) -> EndpointView {
        EndpointView(network: s.network, vni: s.vni, mac: s.mac, ip: s.ip, ip6: s.ip6, name: s.name, claim: s.claim)
    }

    static func address(_ text: String?, family: Int, field: String) throws(AgentError) -> IPAddress? {
        guard let text else { return nil }
        guard let ip = IPAddress(text) else { throw .badRequest("bad_ip", "'\(text)' is not an IP address") }
        switch (ip, family) {
        case (.v4, 4), (.v6, 6): break
        default: throw .badRequest("bad_ip", "\(field) must be an IPv\(family) address, not \(ip)")
        }
        guard ip.isUsableUnicast else { throw .badRequest("bad_ip", "\(ip) is not a unicast address") }
        return ip
    }
}
