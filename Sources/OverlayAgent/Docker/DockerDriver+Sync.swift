#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gossip
import Overlay

/// Keeps this host's dockerd in step with the replicated network definitions: a network
/// made on any host is made here through the engine API, a deleted one is deleted here once
/// no container uses it, and this host's copy of each definition follows the winning one
/// (so a network outlives the host it was made on). Runs outside plugin handlers, one
/// engine call at a time: concurrent creates of one name make duplicates (moby#20648).
extension DockerDriver {
    /// Seconds between passes when nothing wakes the loop: retries a deletion Docker refused
    /// while containers used the network, and an engine that was down.
    static let dockerSyncInterval: Duration = .seconds(5)
    /// False while a call about `vni` waits out a refusal: a create or delete dockerd refused
    /// (a name taken by another network, containers still attached, dockerd away) is tried
    /// again a sync interval later, not at every replica change.
    func mayCallDocker(about vni: VNI) -> Bool {
        if let until = backoff[vni], ContinuousClock.now < until { return false }
        return true
    }

    /// Waits a sync interval before the next call about `vni`; true the first time, so that a
    /// refusal is logged once, not every interval.
    func backOff(_ vni: VNI) -> Bool {
        defer { backoff[vni] = .now + Self.dockerSyncInterval }
        return backoff[vni] == nil
    }

    /// Between two comparisons of this host's endpoints and leases with what dockerd reports,
    /// and how old an endpoint or lease must be before it can be collected (dockerd lists an
    /// endpoint only once its container has started).
    static let collectInterval: Duration = .seconds(60)
    static let collectAge: Double = 60

    /// One pass at start, then one per wake-up: a replica change, or the timer every sync
    /// interval. The stream is read by this one loop for its whole life: a reader cancelled
    /// while waiting would end the stream (AsyncStream's termination on cancel), and every
    /// later read would return at once, a busy loop.
    func syncLoop() async {
        await serially { await publishDockerRows() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [wake] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.dockerSyncInterval)
                    wake.yield()
                }
            }
            await syncPass()
            for await _ in wakes { await syncPass() }
            group.cancelAll()
        }
    }

    func syncPass() async {
        metrics.dockerSyncPass()
        await serially {
            await finishWithdrawals()
            await republish()
        }
        await settlePendingNetworks()
        await syncDockerNetworks()
        if lastCollect.map({ ContinuousClock.now - $0 >= Self.collectInterval }) ?? true {
            lastCollect = .now
            await collectDockerLeftovers()
        }
    }

    /// At start: this host's copies of definitions, from `docker.json`, and
    /// the devices of every network it takes part in. Inside `serially`.
    func publishDockerRows() async {
        for stored in state.definitions.values.sorted(by: { $0.vni < $1.vni }) {
            guard let definition = stored.definition else { continue }
            // A removed network this host's dockerd still has (its containers keep it until
            // they leave) is served too: its endpoints must still be withdrawn when they go.
            if state.networks.values.contains(stored.vni) {
                do { try await overlay.takePart(in: definition) } catch {
                    logger.warning("cannot set up a docker network's devices", metadata: ["network.vni": "\(stored.vni)", "docker.error": "\(error)"])
                }
            }
            if !definition.name.isEmpty { await publishReported("definition") { try await self.publishDefinition(definition) } }
        }
    }

    func syncDockerNetworks() async {
        guard await overlay.isJoined() else { return }
        for (vni, winner) in await overlay.definitions().sorted(by: { $0.key < $1.key }) where !winner.name.isEmpty {
            // Decided and recorded one at a time with the plugin's calls; dockerd is called
            // outside (it calls the plugin back before it answers).
            let (mine, localID) = await serially { await follow(winner) }
            if winner.deleted {
                if let localID { await deleteInDocker(localID, vni) }
                continue
            }
            if localID == nil {
                await createInDocker(winner)
            } else if mine?.time != winner.time || mine?.origin != winner.origin {
                await publishReported("definition") { try await self.publishDefinition(winner) }
            }
        }
    }

    /// This host's copy of a definition follows the winning one. Inside `serially`.
    /// - Returns: the copy as it was, and this host's dockerd's ID of the network, if it has it.
    private func follow(_ winner: NetworkDefinition) async -> (DockerState.Definition?, String?) {
        let vni = winner.vni
        let mine = state.definitions[String(vni.value)]
        let localID = state.networks.first { $0.value == vni.value }?.key
        if winner.deleted {
            if let mine, !mine.deleted || mine.time < winner.time {
                // Keep the tombstone as this host's copy: it deletes the network on hosts
                // that come back later.
                state.definitions[String(vni.value)] = DockerState.Definition(winner)
                await saveReported()
                await publishReported("definition") { try await self.publishDefinition(winner) }
            }
        } else if mine.map({ $0.time != winner.time || $0.origin != winner.origin || $0.deleted }) ?? true, localID != nil || mine == nil {
            state.definitions[String(vni.value)] = DockerState.Definition(winner)
            await saveReported()
        }
        return (mine, localID)
    }

    /// Seconds a network this host acknowledged may go unlisted by dockerd before it is taken
    /// for a create that never finished (dockerd stores a network milliseconds after the
    /// plugin's CreateNetwork returns; `nameDockerNetwork` waits as long).
    static let pendingAge: Double = 30

    /// Networks whose CreateNetwork this host acknowledged but whose name it has not learnt
    /// (dockerd had not stored them yet) are settled here, outside plugin handlers: named and
    /// published once dockerd lists them; forgotten entirely (devices, host row, definition)
    /// when dockerd still does not list them `pendingAge` after the create, because dockerd's
    /// create failed after the plugin's part and its rollback (DeleteNetwork) was lost, to an
    /// agent restart say. Their subnet and VNI are free again then.
    func settlePendingNetworks() async {
        let now = Date().timeIntervalSince1970
        for (id, raw) in state.networks.sorted(by: { $0.key < $1.key }) {
            guard pending(id, raw) != nil, let vni = VNI(raw) else { continue }
            let found: DockerEngine.Network?
            do { found = try await engine.network(id) } catch { return }  // dockerd away: next pass
            if let found {
                await serially { await adoptName(found.Name, vni: vni) }
                continue
            }
            await serially {
                // Still pending now that dockerd answered: another call may have settled it.
                guard let stored = pending(id, raw), now - (state.made?[id] ?? 0) >= Self.pendingAge else { return }
                metrics.dockerSyncError(operation: "unfinished_create")
                logger.warning("a docker network create never finished in dockerd; its devices, subnet and VNI are freed", metadata: [
                    "docker.network_id": "\(id)", "network.vni": "\(vni)", "network.subnet": "\(stored.subnet)",
                ])
                await removeNetwork(NetworkRequest(NetworkID: id))
            }
        }
    }

    /// The definition of Docker network `id` (VNI `raw`) while its name is not known yet.
    private func pending(_ id: String, _ raw: UInt32) -> DockerState.Definition? {
        guard state.networks[id] == raw, let stored = state.definitions[String(raw)], stored.name.isEmpty, !stored.deleted else { return nil }
        return stored
    }

    func createInDocker(_ d: NetworkDefinition) async {
        guard mayCallDocker(about: d.vni) else { return }
        let request = DockerEngine.CreateNetwork(
            Name: d.name, Driver: Self.driverName, Internal: d.internal, EnableIPv6: d.subnet6 != nil,
            IPAM: .init(Driver: Self.driverName, Config: [.init(Subnet: d.subnet.description)] + (d.subnet6.map { [.init(Subnet: $0.description)] } ?? [])),
            Options: ["vni": String(d.vni.value)].merging(d.mtu.map { [Self.mtuOption: String($0)] } ?? [:]) { a, _ in a },
            Labels: ["org.grapevine.vni": String(d.vni.value)])
        do {
            if try await engine.create(request) {
                logger.info("docker network made from the cluster's definition", metadata: [
                    "network.name": "\(d.name)", "network.vni": "\(d.vni)", "network.origin": "\(d.origin)",
                ])
                backoff[d.vni] = nil
                await publishReported("definition") { try await self.publishDefinition(d) }
            } else {
                metrics.dockerSyncError(operation: "create")
                guard backOff(d.vni) else { return }
                logger.warning("a docker network of that name exists already and is not this one", metadata: ["network.name": "\(d.name)", "network.vni": "\(d.vni)"])
            }
        } catch {
            metrics.dockerSyncError(operation: "create")
            guard backOff(d.vni) else { return }
            logger.info("cannot make a docker network yet", metadata: ["network.name": "\(d.name)", "docker.error": "\(error)"])
        }
    }

    func deleteInDocker(_ id: String, _ vni: VNI) async {
        guard mayCallDocker(about: vni) else { return }
        agentDeleting.insert(vni)
        do {
            if try await engine.delete(id) {
                backoff[vni] = nil
                logger.info("docker network deleted as the cluster asked", metadata: ["network.vni": "\(vni)"])
            } else {
                agentDeleting.remove(vni)
                guard backOff(vni) else { return }
                logger.info("docker network still in use here; deleted when its containers are gone", metadata: ["network.vni": "\(vni)"])
            }
        } catch {
            agentDeleting.remove(vni)
            metrics.dockerSyncError(operation: "delete")
            guard backOff(vni) else { return }
            logger.info("cannot delete a docker network yet", metadata: ["network.vni": "\(vni)", "docker.error": "\(error)"])
        }
    }

    /// Endpoints are reconciled with what dockerd reports: one dockerd no longer lists (its
    /// DeleteEndpoint was lost while the agent was down: dockerd gives up after 15 s and
    /// only logs it) is withdrawn and its veth deleted; a lease no endpoint holds is freed.
    /// Networks dockerd no longer has are forgotten here without deleting them elsewhere.
    func collectDockerLeftovers() async {
        let now = Date().timeIntervalSince1970
        var listed: [String: Set<String>] = [:]
        for id in Set(state.networks.keys) {
            // One this host made moments ago may not be stored by dockerd yet; one whose
            // create never finished is `settlePendingNetworks`'s.
            guard now - (state.made?[id] ?? 0) >= Self.collectAge else { continue }
            let network: DockerEngine.Network?
            do { network = try await engine.network(id) } catch { return }  // dockerd away: next time
            guard let network else {
                await serially {
                    guard let raw = state.networks[id], let vni = VNI(raw) else { return }
                    logger.info("docker network gone from dockerd; forgotten here", metadata: ["docker.network_id": "\(id)", "network.vni": "\(vni)"])
                    agentDeleting.insert(vni)
                    await removeNetwork(NetworkRequest(NetworkID: id))
                }
                continue
            }
            listed[id] = Set((network.Containers ?? [:]).values.map(\.EndpointID))
        }
        for (id, record) in state.endpoints where now - record.created >= Self.collectAge {
            guard let endpoints = listed[record.network], !endpoints.contains(id) else { continue }
            await serially {
                guard state.endpoints[id] != nil else { return }
                logger.info("docker endpoint dockerd no longer lists; withdrawn", metadata: ["docker.endpoint_id": "\(id)", "endpoint.ip": "\(record.ip)"])
                await removeEndpoint(DockerEndpointRequest(NetworkID: record.network, EndpointID: id))
            }
        }
        await serially {
            var changed = false
            for (vni, leases) in state.leases {
                for (ip, since) in leases where now - since >= Self.collectAge {
                    let held = state.endpoints.values.contains { String($0.vni) == vni && $0.ip == ip }
                    if !held {
                        state.leases[vni]?[ip] = nil
                        changed = true
                    }
                }
            }
            if changed { await saveReported() }
        }
    }
}
