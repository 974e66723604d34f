import Gossip
import Overlay

extension OverlayController {
    /// Follows the replicated state: every change of an overlay row goes into `replica`,
    /// and the kernel is reconciled after each batch.
    func follow(_ updates: Updates<StateUpdate>) async {
        for await update in updates {
            switch update {
            case .snapshot(let snapshot), .lost(let snapshot):
                rebuild(from: snapshot)
            case .change(let change):
                apply(change)
                if change.owner == configuration.name, let row = change.row {
                    ownVersionSeen = max(ownVersionSeen, row.version)
                    if let barrier = replicaBarrier, ownVersionSeen >= barrier { replicaComplete(why: "join's state applied") }
                }
            }
            replicaChanged = true
            ipam?.send(.definitions(DockerDriver.ipamDefinitions(replica.definitions(), own: docker?.ownDefinitions ?? [:])))
            namesChanged()
            wake.yield()
            docker?.replicaChanged()
        }
    }

    func rebuild(from snapshot: StateSnapshot) {
        replica = Replica()
        unavailableOwners = snapshot.unavailableOwners
        for (owner, rows) in snapshot.rows {
            for row in rows where row.table == OverlayRow.table {
                add(row, owner: owner)
            }
        }
    }

    func apply(_ change: RowChange) {
        let owner = change.owner
        switch change.kind {
        case .ownerUnavailable:
            unavailableOwners.insert(owner)
            replica.setLive(false, owner: owner)
            hub.publish(MonitorRecord(type: "row", time: clock.now(), event: "owner-unavailable", name: owner))
        case .ownerAvailable:
            unavailableOwners.remove(owner)
            replica.setLive(true, owner: owner)
            hub.publish(MonitorRecord(type: "row", time: clock.now(), event: "owner-available", name: owner))
        case .added, .updated:
            guard let row = change.row, row.table == OverlayRow.table else { return }
            add(row, owner: owner)
            hub.publish(MonitorRecord(type: "row", time: clock.now(), event: change.kind == .added ? "added" : "updated",
                                      name: owner, table: row.table, key: row.key))
        case .removed:
            guard let row = change.row, row.table == OverlayRow.table else { return }
            do {
                try replica.remove(stateKey: row.key, owner: owner)
            } catch {
                refuse(row, owner: owner, error)
            }
            hub.publish(MonitorRecord(type: "row", time: clock.now(), event: "removed", name: owner, table: row.table, key: row.key))
        }
    }

    func add(_ row: StateRow, owner: String) {
        do {
            let decoded = try OverlayRow(stateKey: row.key, value: row.value, owner: owner)
            // Lamport: a claim made here after seeing this one must be later.
            switch decoded {
            case .endpoint(let e): registry.clock.observe(e.claim.time)
            case .network(let d): docker?.observe(d.time)
            case .block(let b): docker?.observe(b.claim.time)
            case .allocator(let a): ipam?.send(.merge(a))
            case .host: break
            }
            replica.add(decoded, owner: owner, live: !unavailableOwners.contains(owner))
        } catch {
            refuse(row, owner: owner, error)
        }
    }

    /// A row no host would accept: counted and logged, never applied, and nothing held is
    /// dropped for it.
    func refuse(_ row: StateRow, owner: String, _ error: OverlayRowError) {
        refusedRows += 1
        metrics.rowRefused(reason: error.reason)
        logger.info("overlay row refused", metadata: [
            "row.owner": "\(Limits.escaped(owner))", "row.key": "\(Limits.escaped(row.key))", "row.error": "\(error)",
        ])
    }

    /// Recomputes the desired state (once per batch of replica changes: it reads the whole
    /// replica) and schedules a reconcile of each network whose rows changed.
    func updateDesired() {
        desired = DesiredState(for: localHost, from: replica)
        for (vni, rows) in desired.networks where lastApplied[vni] != rows {
            schedule(vni, .change)
        }
        for vni in devices.keys {
            let remote = replica.endpoints.values.filter { $0.network == vni && $0.owner != configuration.name }.count
            metrics.setEndpoints(network: devices[vni]!.network.name, local: localCount(vni), remote: remote)
            metrics.setConflicts(network: devices[vni]!.network.name, count: desired.conflicts.filter { $0.network == vni }.count)
        }
    }

    func localCount(_ vni: VNI) -> Int { registry.endpoints.keys.filter { $0.network == vni.value }.count }
}
