import Addresses
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Overlay

/// The Docker plugin's endpoints: veth pairs on the network's bridge, registered as overlay
/// endpoints through the overlay (`registerEndpoint`), recorded in `docker.json`.
extension DockerDriver {
    /// One at a time with the driver's other changes: whether a row is still a removed
    /// endpoint's own (`withdraw`) is decided from the records, and a create of the same MAC
    /// (its address released and leased again) halfway through would make that record wrong
    /// (issue 20: a refused create kept the row the old endpoint had just withdrawn).
    func createEndpoint(_ request: CreateEndpointRequest) async throws(PluginError) -> CreateEndpointReply {
        try await serially { () async throws(PluginError) in try await makeEndpoint(request) }
    }

    private func makeEndpoint(_ request: CreateEndpointRequest) async throws(PluginError) -> CreateEndpointReply {
        guard let raw = state.networks[request.NetworkID], let vni = VNI(raw), let device = await overlay.device(vni) else {
            throw PluginError("unknown_network", "grapevine knows no network \(request.NetworkID)")
        }
        guard let address = request.Interface?.Address, !address.isEmpty,
              let ip = IPAddress(String(address.prefix { $0 != "/" })), case .v4(let raw4) = ip else {
            throw PluginError("no_address", "the endpoint has no IPv4 address (use --ipam-driver grapevine)")
        }
        // Dual stack: the address from the network's IPv6 pool (dockerd asks for it only on a
        // network made with --ipv6).
        var ip6: IPAddress?
        if let text = request.Interface?.AddressIPv6, !text.isEmpty {
            guard let a = IPAddress(String(text.prefix { $0 != "/" })), case .v6 = a else {
                throw PluginError("bad_address", "'\(text)' is not an IPv6 address")
            }
            if let subnet6 = dockerDefinition(vni)?.subnet6, !subnet6.contains(a) {
                throw PluginError("bad_address", "\(a) is not an address of the network's IPv6 subnet \(subnet6)")
            }
            ip6 = a
        }
        let given = request.Interface?.MacAddress.flatMap { $0.isEmpty ? nil : MACAddress($0) }
        let mac = given ?? Self.mac(for: raw4)
        let suffix = String(request.EndpointID.prefix(11))
        let record = DockerState.Endpoint(vni: raw, mac: mac.description, ip: ip.description,
                                          hostVeth: "gv" + suffix, containerVeth: "gc" + suffix,
                                          network: request.NetworkID, created: Date().timeIntervalSince1970)
        do {
            try await kernel.createPort(record, bridge: device.network.bridge, mtu: device.settings.mtu ?? 1450, mac: mac)
        } catch {
            throw PluginError("veth", "cannot make the container's interface: \(error)")
        }
        do {
            _ = try await overlay.registerEndpoint(EndpointRequest(network: device.network.name, mac: mac.description,
                                                           ip: ip.description, ip6: ip6?.description, name: nil), vni: vni)
        } catch {
            await withdraw(request.EndpointID, record, left: .veth)
            throw PluginError(error.code, error.message)
        }
        state.endpoints[request.EndpointID] = record
        do { try await save() } catch {
            await withdraw(request.EndpointID, record, left: .row)
            throw PluginError("store", "cannot record the endpoint: \(error)")
        }
        return CreateEndpointReply(Interface: given == nil ? .init(MacAddress: mac.description) : nil)
    }

    /// `02:42:` and the IPv4 address, as Docker's bridge driver makes it: unique as long as
    /// the address is, and an address handed out again comes back with the same MAC, so the
    /// ARP caches of the containers that talked to its last holder stay right. (With a MAC per
    /// endpoint, a reused address stayed unreachable for 7 to 48 s, until those caches expired:
    /// Docs/benchmarks/DOCKER.md.)
    static func mac(for ipv4: UInt32) -> MACAddress {
        MACAddress(value: 0x0242_0000_0000 | UInt64(ipv4))
    }

    func join(_ request: DockerEndpointRequest) async throws(PluginError) -> DockerJoinReply {
        guard let record = state.endpoints[request.EndpointID] else {
            throw PluginError("unknown_endpoint", "grapevine knows no endpoint \(request.EndpointID)")
        }
        send(.nameEndpoint(id: request.EndpointID, network: request.NetworkID))
        // No gateway: on a network that is not internal, Docker adds its gateway bridge for
        // traffic leaving the overlay, as it does for its own overlay driver.
        return DockerJoinReply(InterfaceName: .init(SrcName: record.containerVeth, DstPrefix: "eth"),
                               StaticRoutes: nameServiceRoutes)
    }

    func deleteEndpoint(_ request: DockerEndpointRequest) async {
        await serially { await removeEndpoint(request) }
    }

    /// `DeleteEndpoint`, dockerd's or the collection's; inside `serially`.
    func removeEndpoint(_ request: DockerEndpointRequest) async {
        guard let record = state.endpoints[request.EndpointID] else { return }
        await withdraw(request.EndpointID, record, left: withdrawing[request.EndpointID] ?? .row)
    }

    /// What is left of an endpoint being removed: its row and its veth, or its veth only.
    enum Remains: Sendable {
        case row, veth
    }

    /// Withdraws an endpoint (its row, then its veth) and forgets its record once nothing of it
    /// is left. Docker's DeleteEndpoint gives no error to act on and a failed CreateEndpoint's
    /// undo has none either, so what fails stays recorded (`state.endpoints`, `withdrawing`)
    /// and each sync pass tries again (`finishWithdrawals`): a row or veth is never left behind
    /// for good. A row once withdrawn is not withdrawn again: its MAC (from its address) may be
    /// a new container's by then. Inside `serially`.
    func withdraw(_ id: String, _ record: DockerState.Endpoint, left: Remains) async {
        state.endpoints[id] = record
        withdrawing[id] = left
        var left: Remains? = left
        // Another endpoint with this MAC whose row stands registered it after this one's row
        // was gone (the registry refuses a MAC twice): the row is the newer endpoint's.
        if left == .row, state.endpoints.contains(where: {
            $0.key != id && $0.value.vni == record.vni && $0.value.mac == record.mac && withdrawing[$0.key] != .veth
        }) {
            left = .veth
        }
        if left == .row {
            var withdrawn = true
            if let vni = VNI(record.vni), let device = await overlay.device(vni) {
                do { try await overlay.unregisterEndpoint(network: device.network.name, mac: record.mac, vni: vni) } catch {
                    // Not found: withdrawn by an earlier try whose answer was lost.
                    if error.code != "not_found" {
                        withdrawn = false
                        logger.warning("docker endpoint not withdrawn yet; tried again", metadata: ["docker.endpoint_id": "\(id)", "docker.error": "\(error)"])
                    }
                }
            }
            if withdrawn { left = .veth }
        }
        if left == .veth {
            do {
                try await kernel.deletePort(record)
                left = nil
            } catch {
                await overlay.netlinkError("delete port", error)
            }
        }
        withdrawing[id] = left
        if left == nil { state.endpoints[id] = nil }
        await saveReported()
    }

    /// Each sync pass: the removals that did not finish are tried again.
    func finishWithdrawals() async {
        for (id, left) in withdrawing.sorted(by: { $0.key < $1.key }) {
            guard let record = state.endpoints[id] else {
                withdrawing[id] = nil
                continue
            }
            await withdraw(id, record, left: left)
        }
    }

    /// Puts the container's name into its endpoint row once dockerd lists the container on the
    /// network (after Join returns and the container starts; the protocol never sends names).
    /// dockerd lists it a few milliseconds after Join, and every other host can resolve the
    /// name only from then on, so the first tries come at once (`listingBackoff`).
    func nameDockerEndpoint(id: String, network: String) async {
        var backoff = Self.listingBackoff
        let deadline = ContinuousClock.now + Self.listingDeadline
        while ContinuousClock.now < deadline {
            do { try await Task.sleep(for: backoff.next()) } catch { return }
            guard let record = state.endpoints[id] else { return }
            let listedName: String
            var aliases: [String] = []
            do {
                guard let listed = try await engine.network(network),
                      let (containerID, container) = listed.Containers?.first(where: { $0.value.EndpointID == id }) else { continue }
                listedName = container.Name
                if readsAliases { aliases = try await engine.aliases(container: containerID, network: network) }
            } catch {
                logger.debug("docker network or container not read; tried again", metadata: ["docker.network_id": "\(network)", "docker.error": "\(error)"])
                continue
            }
            let name = listedName.hasPrefix("/") ? String(listedName.dropFirst()) : listedName
            let key = EndpointKey(network: record.vni, mac: record.mac)
            guard !name.isEmpty, name.utf8.count <= 255 else { return }
            do {
                try await registry.rename(key, to: name, aliases: aliases)
            } catch {
                logger.info("container name not published", metadata: ["docker.endpoint_id": "\(id)", "docker.error": "\(error)"])
            }
            return
        }
    }
}
