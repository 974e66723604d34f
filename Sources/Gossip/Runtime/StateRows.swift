import GossipCore

/// Replicated state between the core and callers: writes go in through `request` (so a
/// refusal comes back to the caller), changes go out to `ApplicationHubs.state` at the end of
/// each batch, on the loop, which is what makes a subscription's snapshot consistent with the
/// changes after it.
extension NodeRuntime {
    func writeRow(table: String, key: String, value: [UInt8]) -> Result<UInt64, GossipError> {
        guard phase == .running else { return .failure(.notRunning) }
        if let error = request(.writeRow(table: table, key: key, value: value)) { return .failure(.invalidRequest(error)) }
        guard let core else { return .failure(.notRunning) }
        return .success(core.stateVersion)
    }

    func deleteRow(table: String, key: String) -> GossipError? {
        guard phase == .running else { return .notRunning }
        return request(.deleteRow(table: table, key: key)).map { .invalidRequest($0) }
    }

    /// Routes one `Output.rowChanged`.
    func rowChanged(_ change: RowChange) {
        switch change.kind {
        case .added: app.rowsHeld += 1
        case .removed: app.rowsHeld -= 1
        case .updated, .ownerUnavailable, .ownerAvailable: break
        }
        app.newRowChanges.append(.change(change))
    }

    /// At the end of a batch. A subscriber behind gets the replica as it is now, which holds
    /// every change of the batch, built at most once however many fell behind.
    func publishRowChanges() {
        var fresh: StateSnapshot?
        hubs.state.publish(app.newRowChanges) { _ in
            if fresh == nil { fresh = stateSnapshot() }
            return .lost(resync: fresh ?? StateSnapshot())
        }
        // This node's own rows move its state version: a restart must version above it.
        let own = app.newRowChanges.contains { if case .change(let c) = $0 { c.owner == configuration.name } else { false } }
        app.newRowChanges.removeAll(keepingCapacity: true)
        if own { snapshotChanged() }
    }

    func subscribeState(buffer: Int) -> Updates<StateUpdate> {
        hubs.state.subscribe(buffer: buffer, first: [.snapshot(stateSnapshot())])
    }

    func stateSnapshot() -> StateSnapshot {
        guard let core else { return StateSnapshot() }
        var snapshot = StateSnapshot()
        for owner in core.stateOwners {
            let rows = core.stateRows(of: owner)
            guard !rows.isEmpty else { continue }
            snapshot.rows[owner] = rows
            if !core.isOwnerAvailable(owner) { snapshot.unavailableOwners.insert(owner) }
        }
        return snapshot
    }
}
