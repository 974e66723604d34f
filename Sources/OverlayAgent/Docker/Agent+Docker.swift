import Addresses
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gossip
import Netlink
import Overlay

/// The Docker plugin's network driver: Docker's networks as replicated definitions, its
/// endpoints as veth pairs on the network's bridge registered as overlay endpoints
/// (Docs/DOCKER.md).
extension Agent: DockerPlugin {
    /// The driver's name, as `docker network create -d` and `--ipam-driver` give it.
    static let dockerDriver = "grapevine"

    func createNetwork(_ request: CreateNetworkRequest) async throws(PluginError) {
        let options = request.Options?.generic ?? [:]
        for key in options.keys where !Self.knownNetworkOptions.contains(key) {
            throw PluginError("unknown_option", "unknown option '\(key)' (grapevine knows: vni, \(Self.mtuOption))")
        }
        let mtu = try networkMTU(options[Self.mtuOption])
        guard let pool = request.IPv4Data?.first?.Pool, let subnet = (try? Subnet(pool)) else {
            throw PluginError("no_subnet", "a grapevine network needs an IPv4 --subnet")
        }
        // The gateway every host's bridge carries (Names/NameBridges.swift) is the subnet's
        // first address, which the address allocator never hands out; a `--gateway` elsewhere
        // would answer on no host (or on one only) and could be handed to a container.
        if let text = request.IPv4Data?.first?.Gateway, !text.isEmpty, let blocks = AddressBlocks(subnet),
           IPAddress(String(text.prefix { $0 != "/" })) != blocks.gateway {
            throw PluginError("bad_gateway", "--gateway \(text.prefix { $0 != "/" }) is not supported: a grapevine network's gateway is its subnet's first address, \(blocks.gateway), which answers on every host")
        }
        if request.Options?.enableIPv6 == true || !(request.IPv6Data ?? []).isEmpty {
            throw PluginError("no_ipv6", "grapevine networks do not carry IPv6 yet")
        }
        let isInternal = request.Options?.internal ?? false
        let vni: VNI
        if let text = options["vni"] {
            guard let raw = UInt32(text), let given = VNI(raw), raw >= 1 else {
                throw PluginError("bad_vni", "vni '\(text)' is not 1 to 16777215")
            }
            vni = given
        } else {
            vni = freeVNI(seed: request.NetworkID)
        }
        if let configured = devices[vni], !isDockerNetwork(vni) {
            throw PluginError("vni_in_use", "VNI \(vni) is the configured network \(configured.network.name)")
        }
        let existing = replica.definition(of: vni).flatMap { $0.deleted ? nil : $0 } ?? dockerDefinition(vni)
        if existing == nil, let removed = replica.definition(of: vni), removed.deleted, let hosts = stillUsed(vni) {
            throw PluginError("vni_in_use", "VNI \(vni) is network \(Self.describe(removed)), removed but still in use on \(hosts): a network stays until its last container leaves")
        }
        let definition: NetworkDefinition
        if let existing, existing.subnet == subnet, existing.internal == isInternal, existing.mtu == mtu {
            // Another host's network, made here by this agent (or by a user with the same
            // settings): the same network.
            definition = existing
        } else if let existing {
            throw PluginError("vni_in_use", "VNI \(vni) is network \(Self.describe(existing)) (\(existing.subnet)\(existing.internal ? ", internal" : "")\(existing.mtu.map { ", mtu \($0)" } ?? ""))")
        } else {
            dockerState.clock = max(dockerState.clock, registry.clock.value) + 1
            // The name is Docker's and not sent to drivers; it is looked up once dockerd has
            // stored the network (`nameDockerNetwork`), and the definition published then.
            definition = NetworkDefinition(name: "", vni: vni, subnet: subnet, subnet6: nil, internal: isInternal,
                                           deleted: false, mtu: mtu, time: dockerState.clock, origin: configuration.name)
            // A removed network whose containers still run somewhere keeps its subnet (and so
            // its addresses): Docker gives a remote driver no way to refuse `network rm` (it
            // logs DeleteNetwork's error and removes the network anyway), so the network stays
            // where it is used until its last container leaves, and nothing of it is handed
            // out again meanwhile.
            for other in replica.definitions().values.sorted(by: { $0.vni < $1.vni })
            where other.vni != vni && other.subnet.overlaps(subnet) {
                if !other.deleted {
                    throw PluginError("subnet_overlap", "subnet \(subnet) overlaps network \(Self.describe(other)) (\(other.subnet))")
                }
                if let hosts = stillUsed(other.vni) {
                    throw PluginError("subnet_overlap", "subnet \(subnet) overlaps network \(Self.describe(other)) (\(other.subnet)), removed but still in use on \(hosts): a network stays until its last container leaves")
                }
            }
            for other in dockerState.definitions.values.sorted(by: { $0.vni < $1.vni }) where !other.deleted && other.vni != vni.value {
                if let s = (try? Subnet(other.subnet)), s.overlaps(subnet), let d = other.definition {
                    throw PluginError("subnet_overlap", "subnet \(subnet) overlaps network \(Self.describe(d)) (\(other.subnet))")
                }
            }
        }
        let key = String(vni.value)
        let previous = dockerState.definitions[key]
        let mine = DockerState.Definition(definition)
        dockerState.networks[request.NetworkID] = vni.value
        dockerState.made = dockerState.made ?? [:]
        dockerState.made?[request.NetworkID] = Date().timeIntervalSince1970
        dockerState.definitions[key] = mine
        // The steps in the order they can be undone: the intent on disk (a restart finds a
        // pending network and settles it: `settlePendingNetworks`), then the devices and the
        // host row (`takePart` undoes its own part when the publish fails).
        do {
            try await saveDockerState()
            try await takePart(in: definition)
        } catch {
            // Nothing half-made: dockerd undoes its side (the pool) when this fails. Only this
            // call's own entries are undone, and only if nobody changed them meanwhile: the
            // sync loop or another create may have written others during the awaits, and
            // restoring a copy taken before them would erase their work (review §3 C2).
            if dockerState.networks[request.NetworkID] == vni.value {
                dockerState.networks[request.NetworkID] = nil
                dockerState.made?[request.NetworkID] = nil
            }
            if dockerState.definitions[key] == mine { dockerState.definitions[key] = previous }
            await saveDockerStateReported()
            throw PluginError("internal", "cannot set up network devices: \(error)")
        }
        if definition.name.isEmpty {
            let id = request.NetworkID
            Task { await self.nameDockerNetwork(id: id, vni: vni) }
        } else {
            await publishReported("definition") { try await self.publishDefinition(definition) }
        }
        logger.info("docker network created", metadata: [
            "docker.network_id": "\(request.NetworkID)", "network.vni": "\(vni)", "network.subnet": "\(subnet)",
        ])
    }

    static let mtuOption = "com.docker.network.driver.mtu"
    static let knownNetworkOptions: Set<String> = ["vni", mtuOption]

    /// The MTU `-o com.docker.network.driver.mtu` gives, nil without it.
    /// - Throws: `PluginError` `bad_mtu` for one that is not a number of
    ///   `NetworkDefinition.mtuRange`, or is larger than this host's underlay carries (its MTU
    ///   less the VXLAN encapsulation): packets that size would be lost without a word.
    func networkMTU(_ text: String?) throws(PluginError) -> UInt32? {
        guard let text else { return nil }
        guard let mtu = UInt32(text), NetworkDefinition.mtuRange.contains(mtu) else {
            throw PluginError("bad_mtu", "mtu '\(text)' is not \(NetworkDefinition.mtuRange.lowerBound) to \(NetworkDefinition.mtuRange.upperBound)")
        }
        guard mtu <= underlay.deviceMTU else {
            throw PluginError("bad_mtu", "mtu \(mtu) is larger than this host's underlay carries: at most \(underlay.deviceMTU) (underlay MTU \(underlay.underlayMTU) less the VXLAN encapsulation)")
        }
        return mtu
    }

    /// The MTU of `vni`'s devices and veths: the network's own (`-o com.docker.network.driver.mtu`)
    /// when it has one, never more than the underlay carries now; else the overlay MTU from
    /// the underlay.
    func deviceMTU(for vni: VNI) -> UInt32 {
        guard let mtu = dockerState.definitions[String(vni.value)]?.mtu else { return underlay.deviceMTU }
        return min(mtu, underlay.deviceMTU)
    }

    /// A VNI no known network uses, from the network's ID so that two hosts creating networks
    /// at once rarely pick the same (4096 and up, below the range people number by hand).
    func freeVNI(seed: String) -> VNI {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in seed.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0100_0000_01b3 }
        let span: UInt32 = (1 << 24) - 4096
        var candidate = UInt32(hash % UInt64(span)) + 4096
        while devices[VNI(candidate)!] != nil || replica.definition(of: VNI(candidate)!) != nil {
            candidate = (candidate - 4096 + 1) % span + 4096
        }
        return VNI(candidate)!
    }

    /// The hosts that still have endpoints on `vni` (as the replica shows them), as "hosts
    /// h2, h3" for an error message; nil when none has.
    func stillUsed(_ vni: VNI) -> String? {
        let hosts = Set(replica.endpoints.values.filter { $0.network == vni }.map(\.owner)).sorted()
        guard !hosts.isEmpty else { return nil }
        return (hosts.count == 1 ? "host " : "hosts ") + hosts.joined(separator: ", ")
    }

    /// A network as an error message names it: its name, or, for one whose `docker network
    /// create` has not finished (dockerd has not listed it yet), what it is.
    static func describe(_ d: NetworkDefinition) -> String {
        d.name.isEmpty ? "being created (VNI \(d.vni))" : d.name
    }

    func isDockerNetwork(_ vni: VNI) -> Bool { dockerState.definitions[String(vni.value)] != nil }

    func dockerDefinition(_ vni: VNI) -> NetworkDefinition? {
        dockerState.definitions[String(vni.value)].flatMap { $0.deleted ? nil : $0.definition }
    }

    /// Once dockerd has stored a network made here by a user, its name is known: the
    /// definition is published then. Bounded: 30 tries a second apart.
    func nameDockerNetwork(id: String, vni: VNI) async {
        var failure = "not listed"
        for _ in 0..<30 {
            let found: DockerEngine.Network?
            do { found = try await dockerEngine.network(id) } catch {
                failure = error.description
                found = nil
            }
            if let network = found {
                await adoptName(network.Name, vni: vni)
                return
            }
            try? await Task.sleep(for: .seconds(1))
        }
        logger.warning("dockerd never listed a network it created", metadata: ["docker.network_id": "\(id)", "docker.error": "\(failure)"])
    }

    /// Names a pending network (one whose name dockerd had not given yet) and publishes its
    /// definition; nothing when it has a name already.
    func adoptName(_ name: String, vni: VNI) async {
        guard var stored = dockerState.definitions[String(vni.value)], stored.name.isEmpty, !stored.deleted else { return }
        stored.name = name
        dockerState.definitions[String(vni.value)] = stored
        await saveDockerStateReported()
        if let definition = stored.definition {
            do { try await renameNetwork(vni, to: name); try await publishDefinition(definition) } catch {
                logger.warning("cannot publish a network definition", metadata: ["network.vni": "\(vni)", "docker.error": "\(error)"])
            }
        }
    }

    func publishDefinition(_ definition: NetworkDefinition) async throws {
        let row = OverlayRow.network(definition)
        try await node.writeRow(table: OverlayRow.table, key: row.stateKey, value: try row.value())
    }

    func deleteNetwork(_ request: NetworkRequest) async {
        guard let raw = dockerState.networks.removeValue(forKey: request.NetworkID), let vni = VNI(raw) else { return }
        dockerState.made?[request.NetworkID] = nil
        let byAgent = agentDeleting.remove(vni) != nil
        if dockerState.networks.values.contains(raw) {
            // Another Docker ID of the same network (a create retried while one that never
            // finished was pending) still uses it: only this ID goes.
            await saveDockerStateReported()
            return
        }
        if let stored = dockerState.definitions[String(raw)], !stored.deleted, stored.name.isEmpty {
            // Never published (dockerd had not stored the network): nothing of it exists
            // elsewhere, and no copy of it may keep its subnet or VNI taken here.
            dockerState.definitions[String(raw)] = nil
        } else if !byAgent, var stored = dockerState.definitions[String(raw)], !stored.deleted {
            // A user's `docker network rm` here: the network goes everywhere.
            dockerState.clock = max(dockerState.clock, registry.clock.value, stored.time) + 1
            stored.deleted = true
            stored.time = dockerState.clock
            stored.origin = configuration.name
            dockerState.definitions[String(raw)] = stored
            if let definition = stored.definition { await publishReported("definition") { try await self.publishDefinition(definition) } }
            if let hosts = stillUsed(vni) {
                logger.notice("docker network removed here; it stays where it is used until its last container leaves", metadata: [
                    "docker.network_id": "\(request.NetworkID)", "network.vni": "\(vni)", "network.used_on": "\(hosts)",
                ])
            }
        }
        for key in dockerState.blocks[String(raw)]?.keys.compactMap(UInt32.init) ?? [] {
            let key = OverlayRow.block(BlockClaim(vni: vni, index: key, claim: Claim(time: 0, owner: configuration.name))).stateKey
            await publishReported("delete block") { try await self.node.deleteRow(table: OverlayRow.table, key: key) }
        }
        dockerState.blocks[String(raw)] = nil
        dockerState.leases[String(raw)] = nil
        await saveDockerStateReported()
        await stopTakingPart(in: vni)
        logger.info("docker network deleted", metadata: ["docker.network_id": "\(request.NetworkID)", "network.vni": "\(vni)"])
    }

    // MARK: endpoints

    func createEndpoint(_ request: CreateEndpointRequest) async throws(PluginError) -> CreateEndpointReply {
        guard let raw = dockerState.networks[request.NetworkID], let vni = VNI(raw), let device = devices[vni] else {
            throw PluginError("unknown_network", "grapevine knows no network \(request.NetworkID)")
        }
        guard let address = request.Interface?.Address, !address.isEmpty,
              let ip = IPAddress(String(address.prefix { $0 != "/" })), case .v4(let raw4) = ip else {
            throw PluginError("no_address", "the endpoint has no IPv4 address (use --ipam-driver grapevine)")
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
            _ = try await registerEndpoint(EndpointRequest(network: device.network.name, mac: mac.description,
                                                           ip: ip.description, ip6: nil, name: nil))
        } catch {
            do { try await kernel.deletePort(record) } catch { netlinkError("delete port", error) }
            throw PluginError(error.code, error.message)
        }
        dockerState.endpoints[request.EndpointID] = record
        do { try await saveDockerState() } catch {
            dockerState.endpoints[request.EndpointID] = nil
            do { try await unregisterEndpoint(network: device.network.name, mac: mac.description) } catch {
                logger.warning("docker endpoint not withdrawn after a failed write", metadata: ["docker.error": "\(error)"])
            }
            do { try await kernel.deletePort(record) } catch { netlinkError("delete port", error) }
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
        guard let record = dockerState.endpoints[request.EndpointID] else {
            throw PluginError("unknown_endpoint", "grapevine knows no endpoint \(request.EndpointID)")
        }
        let id = request.EndpointID, network = request.NetworkID
        Task { await self.nameDockerEndpoint(id: id, network: network) }
        // No gateway: on a network that is not internal, Docker adds its gateway bridge for
        // traffic leaving the overlay, as it does for its own overlay driver.
        return DockerJoinReply(InterfaceName: .init(SrcName: record.containerVeth, DstPrefix: "eth"),
                               StaticRoutes: nameServiceRoutes)
    }

    func deleteEndpoint(_ request: DockerEndpointRequest) async {
        guard let record = dockerState.endpoints.removeValue(forKey: request.EndpointID) else { return }
        await saveDockerStateReported()
        if let vni = VNI(record.vni), let device = devices[vni] {
            do { try await unregisterEndpoint(network: device.network.name, mac: record.mac) } catch {
                logger.warning("docker endpoint not withdrawn", metadata: ["docker.endpoint_id": "\(request.EndpointID)", "docker.error": "\(error)"])
            }
        }
        do { try await kernel.deletePort(record) } catch { netlinkError("delete port", error) }
    }

    /// Puts the container's name into its endpoint row once dockerd lists the container on the
    /// network (after Join returns and the container starts; the protocol never sends names).
    /// Bounded: 30 tries a second apart.
    func nameDockerEndpoint(id: String, network: String) async {
        for _ in 0..<30 {
            try? await Task.sleep(for: .seconds(1))
            guard let record = dockerState.endpoints[id] else { return }
            let listedName: String
            var aliases: [String] = []
            do {
                guard let listed = try await dockerEngine.network(network),
                      let (containerID, container) = listed.Containers?.first(where: { $0.value.EndpointID == id }) else { continue }
                listedName = container.Name
                if names != nil { aliases = try await dockerEngine.aliases(container: containerID, network: network) }
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

    nonisolated func pluginRefused(method: String, code: String) {
        metrics.dockerRefused(method: method, code: code)
    }

    // MARK: taking part in networks

    /// Makes the devices of a Docker network and announces that this host takes part in it.
    func takePart(in definition: NetworkDefinition) async throws {
        guard devices[definition.vni] == nil else { return }
        let name = definition.name.isEmpty ? "vni-\(definition.vni.value)" : definition.name
        let network = NetworkConfiguration(name: name, vni: definition.vni)
        let mtu = definition.mtu.map { min($0, underlay.deviceMTU) } ?? underlay.deviceMTU
        if let wanted = definition.mtu, wanted > mtu {
            logger.warning("a network's MTU is larger than this host's underlay carries; its devices get less", metadata: [
                "network.vni": "\(definition.vni)", "network.mtu": "\(wanted)", "overlay.mtu": "\(mtu)",
            ])
        }
        let device = NetworkDevice(network: network, vtep: vtep, port: UInt16(configuration.vxlanPort), mtu: mtu)
        try await ensureDevice(device)
        devices[definition.vni] = device
        networksByName[name] = network
        do { try await publishHostRow() } catch {
            // Nothing half-made: the network is not this host's until its host row says so.
            devices[definition.vni] = nil
            networksByName[name] = nil
            do { try await kernel.remove(device) } catch { netlinkError("remove", error) }
            throw error
        }
        replicaChanged = true
        schedule(definition.vni, .device)
    }

    func renameNetwork(_ vni: VNI, to name: String) async throws {
        guard var device = devices[vni], device.network.name != name else { return }
        networksByName[device.network.name] = nil
        device.network.name = name
        devices[vni] = device
        networksByName[name] = device.network
        try await registry.renameNetwork(vni.value, to: name)
    }

    func stopTakingPart(in vni: VNI) async {
        guard let device = devices.removeValue(forKey: vni) else { return }
        networksByName[device.network.name] = nil
        lastApplied[vni] = nil
        bridgePorts[vni] = nil
        do { try await publishHostRow() } catch {
            logger.warning("host row not updated after leaving a network", metadata: ["network.vni": "\(vni)", "gossip.error": "\(error)"])
        }
        do { try await kernel.remove(device) } catch { netlinkError("remove", error) }
    }

    /// Writes `docker.json` on the persistence thread and returns once it is on disk.
    /// - Throws: `StoreError`, also counted and logged here.
    /// A publish whose failure no caller can act on (the plugin call it belongs to has no error
    /// to give, or has already succeeded): counted and logged; the Docker rows are published
    /// again at the next start and sync pass.
    func publishReported(_ operation: String, _ body: () async throws -> Void) async {
        do { try await body() } catch {
            metrics.publishError(operation: operation)
            logger.warning("gossip publish failed", metadata: ["publish.operation": "\(operation)", "publish.error": "\(error)"])
        }
    }

    func saveDockerState() async throws(StoreError) {
        do { try await dockerStore.save(dockerState, using: persistence) } catch {
            metrics.storeError(file: "docker")
            logger.error("cannot write the Docker state", metadata: ["store.error": "\(error)"])
            throw error
        }
    }

    /// For writes no caller waits on (a background pass, a call Docker gives no error for):
    /// `saveDockerState` counted and logged a failure, and the next write carries the state.
    func saveDockerStateReported() async {
        do { try await saveDockerState() } catch { return }
    }
}

extension DockerState.Definition {
    init(_ d: NetworkDefinition) {
        self.init(name: d.name, vni: d.vni.value, subnet: d.subnet.description, internal: d.internal,
                  deleted: d.deleted, time: d.time, origin: d.origin, mtu: d.mtu)
    }

    var definition: NetworkDefinition? {
        guard let vni = VNI(vni), let subnet = (try? Subnet(subnet)) else { return nil }
        return NetworkDefinition(name: name, vni: vni, subnet: subnet, subnet6: nil, internal: `internal`,
                                 deleted: deleted, mtu: mtu, time: time, origin: origin)
    }
}
