import Addresses
import Gossip
import GossipCore
import Overlay

extension Agent {
    /// Publishes the host row: this host's VTEP and the networks it takes part in.
    /// - Returns: the row's version.
    @discardableResult
    func publishHostRow() async throws -> UInt64 {
        let row = OverlayRow.host(vtep: vtep, networks: Set(devices.keys))
        return try await node.writeRow(table: OverlayRow.table, key: row.stateKey, value: try row.value())
    }

    func publish(_ stored: StoredEndpoint) async throws {
        let row = OverlayRow.endpoint(try endpoint(stored))
        try await node.writeRow(table: OverlayRow.table, key: row.stateKey, value: try row.value())
    }

    func endpoint(_ s: StoredEndpoint) throws(AgentError) -> Endpoint {
        guard let vni = VNI(s.vni) else { throw .badRequest("bad_request", "VNI \(s.vni) out of range") }
        guard let mac = MACAddress(s.mac) else { throw .badRequest("bad_mac", "'\(s.mac)' is not a MAC address") }
        return Endpoint(network: vni, mac: mac, ipv4: s.ip.flatMap(IPAddress.init), ipv6: s.ip6.flatMap(IPAddress.init),
                        name: s.name, aliases: OverlayRow.canonicalAliases(s.aliases ?? []),
                        claim: Claim(time: s.claim, owner: configuration.name))
    }

    /// Registers, persists and publishes a local endpoint (`AgentControl.addEndpoint`).
    /// The registry is written (and flushed) before the row is published, so a crash between
    /// the two republishes it at the next start; a failed write or publish undoes this
    /// endpoint's registration (and nothing of any other caller's) and is the caller's error.
    /// Then the bridge forgets what it learned for the MAC on the VXLAN port: the MAC is local
    /// now, and such a row would send its frames into the overlay.
    func registerEndpoint(_ request: EndpointRequest) async throws(AgentError) -> EndpointView {
        guard let network = networksByName[request.network] else {
            throw .notFound("unknown_network", "no network named '\(request.network)' (configured: \(networksByName.keys.sorted().joined(separator: ", ")))")
        }
        guard let mac = MACAddress(request.mac) else { throw .badRequest("bad_mac", "'\(request.mac)' is not a MAC address (aa:bb:cc:dd:ee:ff)") }
        guard !mac.isZero, !mac.isMulticast else { throw .badRequest("bad_mac", "\(mac) is not a unicast MAC address") }
        let ipv4 = try Self.address(request.ip, family: 4, field: "ip")
        let ipv6 = try Self.address(request.ip6, family: 6, field: "ip6")
        let key = EndpointKey(network: network.vni.value, mac: mac.description)
        guard local[key] == nil else {
            throw .conflict("duplicate_endpoint", "\(mac) is already registered in network \(network.name)")
        }
        for ip in [ipv4, ipv6].compactMap({ $0 }) {
            if let holder = holderOf(ip, in: network.vni) {
                throw .conflict("ip_in_use", "\(ip) is already held in network \(network.name) by \(holder)")
            }
        }
        claimClock += 1
        let stored = StoredEndpoint(network: network.name, vni: network.vni.value, mac: mac.description,
                                    ip: ipv4?.description, ip6: ipv6?.description, name: request.name, claim: claimClock)
        // Refuse what no host would accept (a name with control characters...) before storing.
        do { _ = try OverlayRow.endpoint(try endpoint(stored)).value() } catch let error as OverlayRowError {
            throw .badRequest(error.reason, error.description)
        } catch {
            throw .badRequest("bad_request", "\(error)")
        }
        local[key] = stored
        do {
            try await saveRegistry()
            try await publish(stored)
        } catch {
            local[key] = nil
            await saveRegistry(undoing: "add")
            throw Self.agentError(error)
        }
        logger.info("endpoint added", metadata: ["endpoint.network": "\(network.name)", "endpoint.mac": "\(mac)",
                                                 "endpoint.ip": "\(ipv4.map { "\($0)" } ?? "-")"])
        if let device = devices[network.vni] {
            do { try await kernel.forgetLearned(mac, on: device) } catch {
                netlinkError("forget learned", error)
                ensureWanted.insert(network.vni)
                schedule(network.vni, .error)
            }
        }
        announce([ipv4, ipv6].compactMap { $0 }, at: mac, in: network.vni)
        replicaChanged = true
        wake.yield()
        return view(stored)
    }

    /// Announces that `ips` are at `mac` to the containers of every other host in the network
    /// (`AddressAnnouncement`), so that one that cached another MAC for them (the address moved)
    /// follows at once. A failed send is logged: caches then follow when they expire.
    func announce(_ ips: [IPAddress], at mac: MACAddress, in vni: VNI) {
        let vteps = (desired.networks[vni]?.flood ?? []).sorted()
        guard !vteps.isEmpty else { return }
        for ip in ips {
            let failed = AddressAnnouncement.send(AddressAnnouncement.frame(ip, at: mac), vni: vni.value,
                                                  to: vteps, port: UInt16(configuration.vxlanPort))
            for (vtep, error) in failed {
                logger.warning("address announcement not sent", metadata: ["endpoint.ip": "\(ip)", "announce.vtep": "\(vtep)", "announce.error": "\(error)"])
            }
        }
    }

    func unregisterEndpoint(network name: String, mac text: String) async throws(AgentError) {
        guard let network = networksByName[name] else { throw .notFound("unknown_network", "no network named '\(name)'") }
        guard let mac = MACAddress(text) else { throw .badRequest("bad_mac", "'\(text)' is not a MAC address") }
        let key = EndpointKey(network: network.vni.value, mac: mac.description)
        guard let stored = local[key] else { throw .notFound("not_found", "no endpoint \(mac) in network \(name)") }
        local[key] = nil
        do {
            try await saveRegistry()
            let row = OverlayRow.endpoint(try endpoint(stored))
            try await node.deleteRow(table: OverlayRow.table, key: row.stateKey)
        } catch {
            if local[key] == nil { local[key] = stored }
            await saveRegistry(undoing: "remove")
            throw Self.agentError(error)
        }
        logger.info("endpoint removed", metadata: ["endpoint.network": "\(name)", "endpoint.mac": "\(mac)"])
    }

    /// Who holds `ip` in `network`: this host's registry, or a live host's winning claim.
    func holderOf(_ ip: IPAddress, in network: VNI) -> String? {
        for e in local.values where e.vni == network.value && (e.ip == ip.description || e.ip6 == ip.description) {
            return "this host (\(e.mac))"
        }
        for e in replica.endpoints.values where e.network == network && e.owner != configuration.name && e.ips.contains(ip) {
            if replica.hosts[e.owner]?.live == true { return "\(e.owner) (\(e.mac))" }
        }
        return nil
    }

    /// Returns once the registry as it is now is on disk (group commit: callers that arrive
    /// while a write runs share the next one, which writes the registry as it is then, so a
    /// burst of adds costs one write per batch instead of one each).
    /// - Throws: `StoreError` of the write that should have carried this change, also counted
    ///   and logged.
    func saveRegistry() async throws(StoreError) {
        guard !registryClosed else { throw StoreError("the agent is stopping: the registry is no longer written") }
        registryChanges += 1
        let change = registryChanges
        registryWake.yield()
        let result: Result<Void, StoreError> = await withCheckedContinuation { continuation in
            registryWaiters.append((change, continuation))
        }
        try result.get()
    }

    /// The registry's writer, a child task of `run`: writes whenever changes wait, and answers
    /// every caller whose change the write carried. At its end, callers still waiting are
    /// told that the agent stopped.
    func registryWriter() async {
        for await _ in registryWakes {
            while registryWritten < registryChanges {
                let batch = registryChanges
                let endpoints = local.values.sorted { ($0.vni, $0.mac) < ($1.vni, $1.mac) }
                let outcome: Result<Void, StoreError>
                do {
                    try await store.save(EndpointStore.Contents(format: EndpointStore.format, clock: claimClock, endpoints: endpoints),
                                         using: persistence)
                    outcome = .success(())
                } catch {
                    metrics.storeError(file: "endpoints")
                    logger.error("cannot write the endpoint registry", metadata: ["store.error": "\(error)"])
                    outcome = .failure(error)
                }
                registryWritten = batch
                let done = registryWaiters.filter { $0.change <= batch }
                registryWaiters.removeAll { $0.change <= batch }
                for waiter in done { waiter.continuation.resume(returning: outcome) }
            }
        }
        registryClosed = true
        let waiting = registryWaiters
        registryWaiters = []
        for waiter in waiting { waiter.continuation.resume(returning: .failure(StoreError("the agent is stopping"))) }
    }

    /// The write after an undo: its failure is counted and logged by `saveRegistry`, and the
    /// caller's error is the one that made it undo.
    func saveRegistry(undoing operation: String) async {
        do { try await saveRegistry() } catch {
            logger.error("the registry on disk may still show an endpoint whose \(operation) failed; the next write corrects it")
        }
    }

    func view(_ s: StoredEndpoint) -> EndpointView {
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

    static func agentError(_ error: any Error) -> AgentError {
        switch error {
        case let e as AgentError: return e
        case let e as StoreError: return .internalError("store", e.description)
        case let e as GossipError: return agentError(e)
        case let e as OverlayRowError: return .badRequest(e.reason, e.description)
        default: return .internalError("internal", "\(error)")
        }
    }

    static func agentError(_ e: GossipError) -> AgentError {
        switch e.code {
        case .invalidRequest:
            switch e.underlying as? RequestError {
            case .tooLarge?: return .tooLarge("\(e)")
            case .tooManyRows?, .tooManyTables?: return .conflict("limit", "\(e)")
            default: return .badRequest("bad_request", "\(e)")
            }
        case .notRunning, .cancelled: return .notReady("\(e)")
        case .noKeyring, .unknownKey, .cannotRemovePrimary, .keyringFull, .tagsTooLarge, .invalidSeed:
            return .badRequest("\(e.code)", "\(e)")
        case .joinFailed: return AgentError(status: 502, code: "join_failed", message: "\(e)")
        default: return .internalError("\(e.code)", "\(e)")
        }
    }
}
