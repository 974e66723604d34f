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
extension DockerDriver: DockerPlugin {
    func createNetwork(_ request: CreateNetworkRequest) async throws(PluginError) {
        try await serially { () async throws(PluginError) in try await makeNetwork(request) }
    }

    private func makeNetwork(_ request: CreateNetworkRequest) async throws(PluginError) {
        let overlay = await self.overlay.view()
        let options = request.Options?.generic ?? [:]
        for key in options.keys where !Self.knownNetworkOptions.contains(key) {
            throw PluginError("unknown_option", "unknown option '\(key)' (grapevine knows: vni, \(Self.mtuOption))")
        }
        let mtu = try Self.networkMTU(options[Self.mtuOption], overlay)
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
        let subnet6 = try Self.ipv6Subnet(request)
        let isInternal = request.Options?.internal ?? false
        let vni: VNI
        if let text = options["vni"] {
            guard let raw = UInt32(text), let given = VNI(raw), raw >= 1 else {
                throw PluginError("bad_vni", "vni '\(text)' is not 1 to 16777215")
            }
            vni = given
        } else {
            vni = Self.freeVNI(seed: request.NetworkID, overlay)
        }
        if let configured = overlay.devices[vni], !isDockerNetwork(vni) {
            throw PluginError("vni_in_use", "VNI \(vni) is the configured network \(configured.network.name)")
        }
        let existing = overlay.definitions[vni].flatMap { $0.deleted ? nil : $0 } ?? dockerDefinition(vni)
        if existing == nil, let removed = overlay.definitions[vni], removed.deleted, let hosts = await self.overlay.stillUsed(vni) {
            throw PluginError("vni_in_use", "VNI \(vni) is network \(Self.describe(removed)), removed but still in use on \(hosts): a network stays until its last container leaves")
        }
        let definition: NetworkDefinition
        if let existing, existing.subnet == subnet, existing.subnet6 == subnet6, existing.internal == isInternal, existing.mtu == mtu {
            // Another host's network, made here by this agent (or by a user with the same
            // settings): the same network.
            definition = existing
        } else if let existing {
            throw PluginError("vni_in_use", "VNI \(vni) is network \(Self.describe(existing)) (\(existing.subnet)\(existing.subnet6.map { ", \($0)" } ?? "")\(existing.internal ? ", internal" : "")\(existing.mtu.map { ", mtu \($0)" } ?? ""))")
        } else {
            let time = nextTime()
            // The name is Docker's and not sent to drivers; it is looked up once dockerd has
            // stored the network (`nameDockerNetwork`), and the definition published then.
            definition = NetworkDefinition(name: "", vni: vni, subnet: subnet, subnet6: subnet6, internal: isInternal,
                                           deleted: false, mtu: mtu, time: time, origin: host)
            // A removed network whose containers still run somewhere keeps its subnet (and so
            // its addresses): Docker gives a remote driver no way to refuse `network rm` (it
            // logs DeleteNetwork's error and removes the network anyway), so the network stays
            // where it is used until its last container leaves, and nothing of it is handed
            // out again meanwhile.
            for other in overlay.definitions.values.sorted(by: { $0.vni < $1.vni }) where other.vni != vni {
                guard let (mine, theirs) = Self.overlap(subnet, subnet6, other) else { continue }
                if !other.deleted {
                    throw PluginError("subnet_overlap", "subnet \(mine) overlaps network \(Self.describe(other)) (\(theirs))")
                }
                if let hosts = await self.overlay.stillUsed(other.vni) {
                    throw PluginError("subnet_overlap", "subnet \(mine) overlaps network \(Self.describe(other)) (\(theirs)), removed but still in use on \(hosts): a network stays until its last container leaves")
                }
            }
            for other in state.definitions.values.sorted(by: { $0.vni < $1.vni }) where !other.deleted && other.vni != vni.value {
                if let d = other.definition, let (mine, theirs) = Self.overlap(subnet, subnet6, d) {
                    throw PluginError("subnet_overlap", "subnet \(mine) overlaps network \(Self.describe(d)) (\(theirs))")
                }
            }
        }
        let key = String(vni.value)
        let previous = state.definitions[key]
        let mine = DockerState.Definition(definition)
        state.networks[request.NetworkID] = vni.value
        state.made = state.made ?? [:]
        state.made?[request.NetworkID] = Date().timeIntervalSince1970
        state.definitions[key] = mine
        // The steps in the order they can be undone: the intent on disk (a restart finds a
        // pending network and settles it: `settlePendingNetworks`), then the devices and the
        // host row (`takePart` undoes its own part when the publish fails).
        do {
            try await save()
            try await self.overlay.takePart(in: definition)
        } catch {
            // Nothing half-made: dockerd undoes its side (the pool) when this fails. Only this
            // call's own entries are undone, never a copy of the state taken before the awaits
            // put back (review §3 C2), even though no other operation of the driver runs
            // meanwhile (`serially`): an undo that touches only its own keys stays right if
            // that ever changes.
            if state.networks[request.NetworkID] == vni.value {
                state.networks[request.NetworkID] = nil
                state.made?[request.NetworkID] = nil
            }
            if state.definitions[key] == mine { state.definitions[key] = previous }
            await saveReported()
            throw PluginError("internal", "cannot set up network devices: \(error)")
        }
        if definition.name.isEmpty {
            send(.nameNetwork(id: request.NetworkID, vni: vni))
        } else {
            await publishReported("definition") { try await self.publishDefinition(definition) }
        }
        logger.info("docker network created", metadata: [
            "docker.network_id": "\(request.NetworkID)", "network.vni": "\(vni)", "network.subnet": "\(subnet)",
            "network.subnet6": "\(subnet6.map { "\($0)" } ?? "-")",
        ])
    }

    /// The IPv6 subnet of a dual-stack network (`--ipv6`, one IPv6 `--subnet`), nil without
    /// `--ipv6`.
    /// - Throws: `PluginError` `no_subnet` for `--ipv6` without an IPv6 subnet, `bad_subnet` for
    ///   more than one or one outside `NetworkDefinition.prefixRange6`, `bad_gateway` for a
    ///   gateway other than the subnet's first address (as for IPv4: the allocator never hands
    ///   that one out).
    static func ipv6Subnet(_ request: CreateNetworkRequest) throws(PluginError) -> Subnet? {
        let data = request.IPv6Data ?? []
        guard request.Options?.enableIPv6 == true || !data.isEmpty else { return nil }
        guard let first = data.first, let subnet = try? Subnet(first.Pool), !subnet.isIPv4 else {
            throw PluginError("no_subnet", "a grapevine network with --ipv6 needs an IPv6 --subnet beside its IPv4 one")
        }
        guard data.count == 1 else { throw PluginError("bad_subnet", "a grapevine network has one IPv6 subnet, not \(data.count)") }
        let range = NetworkDefinition.prefixRange6
        guard range.contains(subnet.prefix) else {
            throw PluginError("bad_subnet", "'\(subnet)' is not an IPv6 subnet of /\(range.lowerBound) to /\(range.upperBound)")
        }
        if let text = first.Gateway, !text.isEmpty, let pool = try? AddressPool(subnet: subnet),
           IPAddress(String(text.prefix { $0 != "/" })) != pool.address(1) {
            throw PluginError("bad_gateway", "--gateway \(text.prefix { $0 != "/" }) is not supported: a grapevine network's IPv6 gateway is its IPv6 subnet's first address, \(pool.address(1))")
        }
        return subnet
    }

    /// The first of the new network's subnets (IPv4, then IPv6) that overlaps one of `other`'s,
    /// with that one; nil when none does.
    static func overlap(_ subnet: Subnet, _ subnet6: Subnet?, _ other: NetworkDefinition) -> (Subnet, Subnet)? {
        if other.subnet.overlaps(subnet) { return (subnet, other.subnet) }
        if let mine = subnet6, let theirs = other.subnet6, theirs.overlaps(mine) { return (mine, theirs) }
        return nil
    }

    static let mtuOption = "com.docker.network.driver.mtu"
    static let knownNetworkOptions: Set<String> = ["vni", mtuOption]

    /// The MTU `-o com.docker.network.driver.mtu` gives, nil without it.
    /// - Throws: `PluginError` `bad_mtu` for one that is not a number of
    ///   `NetworkDefinition.mtuRange`, or is larger than this host's underlay carries (its MTU
    ///   less the VXLAN encapsulation): packets that size would be lost without a word.
    static func networkMTU(_ text: String?, _ overlay: OverlayView) throws(PluginError) -> UInt32? {
        guard let text else { return nil }
        guard let mtu = UInt32(text), NetworkDefinition.mtuRange.contains(mtu) else {
            throw PluginError("bad_mtu", "mtu '\(text)' is not \(NetworkDefinition.mtuRange.lowerBound) to \(NetworkDefinition.mtuRange.upperBound)")
        }
        guard mtu <= overlay.deviceMTU else {
            throw PluginError("bad_mtu", "mtu \(mtu) is larger than this host's underlay carries: at most \(overlay.deviceMTU) (underlay MTU \(overlay.underlayMTU) less the VXLAN encapsulation)")
        }
        return mtu
    }

    /// A VNI no known network uses, from the network's ID so that two hosts creating networks
    /// at once rarely pick the same (4096 and up, below the range people number by hand).
    static func freeVNI(seed: String, _ overlay: OverlayView) -> VNI {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in seed.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0100_0000_01b3 }
        let span: UInt32 = (1 << 24) - 4096
        var candidate = UInt32(hash % UInt64(span)) + 4096
        while overlay.devices[VNI(candidate)!] != nil || overlay.definitions[VNI(candidate)!] != nil {
            candidate = (candidate - 4096 + 1) % span + 4096
        }
        return VNI(candidate)!
    }

    /// A network as an error message names it: its name, or, for one whose `docker network
    /// create` has not finished (dockerd has not listed it yet), what it is.
    static func describe(_ d: NetworkDefinition) -> String {
        d.name.isEmpty ? "being created (VNI \(d.vni))" : d.name
    }

    func isDockerNetwork(_ vni: VNI) -> Bool { state.definitions[String(vni.value)] != nil }

    func dockerDefinition(_ vni: VNI) -> NetworkDefinition? {
        state.definitions[String(vni.value)].flatMap { $0.deleted ? nil : $0.definition }
    }

    /// Once dockerd has stored a network made here by a user, its name is known: the
    /// definition is published then, so the first tries come at once (`listingBackoff`).
    func nameDockerNetwork(id: String, vni: VNI) async {
        var failure = "not listed"
        var backoff = Self.listingBackoff
        let deadline = ContinuousClock.now + Self.listingDeadline
        while ContinuousClock.now < deadline {
            let found: DockerEngine.Network?
            do { found = try await engine.network(id) } catch {
                failure = error.description
                found = nil
            }
            if let network = found {
                await serially { await adoptName(network.Name, vni: vni) }
                return
            }
            do { try await Task.sleep(for: backoff.next()) } catch { return }
        }
        logger.warning("dockerd never listed a network it created", metadata: ["docker.network_id": "\(id)", "docker.error": "\(failure)"])
    }

    /// Names a pending network (one whose name dockerd had not given yet) and publishes its
    /// definition; nothing when it has a name already. Inside `serially`.
    func adoptName(_ name: String, vni: VNI) async {
        guard var stored = state.definitions[String(vni.value)], stored.name.isEmpty, !stored.deleted else { return }
        stored.name = name
        state.definitions[String(vni.value)] = stored
        await saveReported()
        if let definition = stored.definition {
            do { try await overlay.renameNetwork(vni, to: name) } catch {
                logger.warning("endpoints keep the network's earlier local name", metadata: ["network.vni": "\(vni)", "docker.error": "\(error)"])
            }
            // Published whatever became of the rename: the name is the definition's, and one
            // whose publish fails goes out at the next sync pass.
            await publishReported("definition") { try await self.publishDefinition(definition) }
        }
    }

    func deleteNetwork(_ request: NetworkRequest) async {
        await serially { await removeNetwork(request) }
    }

    /// `DeleteNetwork`, dockerd's or the agent's own; inside `serially`.
    func removeNetwork(_ request: NetworkRequest) async {
        guard let raw = state.networks.removeValue(forKey: request.NetworkID), let vni = VNI(raw) else { return }
        state.made?[request.NetworkID] = nil
        let byAgent = agentDeleting.remove(vni) != nil
        if state.networks.values.contains(raw) {
            // Another Docker ID of the same network (a create retried while one that never
            // finished was pending) still uses it: only this ID goes.
            await saveReported()
            return
        }
        if let stored = state.definitions[String(raw)], !stored.deleted, stored.name.isEmpty {
            // Never published (dockerd had not stored the network): nothing of it exists
            // elsewhere, and no copy of it may keep its subnet or VNI taken here.
            state.definitions[String(raw)] = nil
        } else if !byAgent, var stored = state.definitions[String(raw)], !stored.deleted {
            // A user's `docker network rm` here: the network goes everywhere.
            stored.deleted = true
            stored.time = nextTime(after: stored.time)
            stored.origin = host
            state.definitions[String(raw)] = stored
            if let definition = stored.definition { await publishReported("definition") { try await self.publishDefinition(definition) } }
            if let hosts = await overlay.stillUsed(vni) {
                logger.notice("docker network removed here; it stays where it is used until its last container leaves", metadata: [
                    "docker.network_id": "\(request.NetworkID)", "network.vni": "\(vni)", "network.used_on": "\(hosts)",
                ])
            }
        }
        for key in state.blocks[String(raw)]?.keys.compactMap(UInt32.init) ?? [] {
            let row = OverlayRow.block(BlockClaim(vni: vni, index: key, claim: Claim(time: 0, owner: host)))
            await publishReported("delete block") { try await self.rows.delete(row) }
        }
        state.blocks[String(raw)] = nil
        state.leases[String(raw)] = nil
        await saveReported()
        await overlay.stopTakingPart(in: vni)
        logger.info("docker network deleted", metadata: ["docker.network_id": "\(request.NetworkID)", "network.vni": "\(vni)"])
    }

    nonisolated func pluginRefused(method: String, code: String) {
        metrics.dockerRefused(method: method, code: code)
    }
}
