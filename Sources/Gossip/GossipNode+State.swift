public import GossipCore

/// Everything a node holds of the replicated state at one moment: what
/// `GossipNode.stateSnapshot()` returns, and what `stateChanges()` starts (and resyncs) with.
public struct StateSnapshot: Sendable, Hashable {
    /// Every live row held (this node's own included), by owner; each owner's by table, then key.
    public var rows: [String: [StateRow]]
    /// Owners declared failed whose rows are in `rows`: held, but not to be acted on until an
    /// `.ownerAvailable` change (the owner refuted or rejoined) or their removal.
    public var unavailableOwners: Set<String>

    public init(rows: [String: [StateRow]] = [:], unavailableOwners: Set<String> = []) {
        self.rows = rows
        self.unavailableOwners = unavailableOwners
    }

    /// Live rows, all owners.
    public var rowCount: Int { rows.values.reduce(0) { $0 + $1.count } }
}

/// One element of `GossipNode.stateChanges()`.
public enum StateUpdate: Sendable, Hashable {
    /// The first element: the replica when the subscription began. Changes follow on from it,
    /// none missed and none already in it.
    case snapshot(StateSnapshot)
    /// A change of the replica, in the order this node made it.
    case change(RowChange)
    /// The subscriber fell `buffer` elements behind, and the changes it had not read were
    /// dropped. This is the replica just after the last of them: start over from it (drop
    /// every row held, take these). Changes follow on from it.
    case lost(resync: StateSnapshot)
}

/// Replicated node-owned state: tables of rows that only their owner writes and every member
/// holds (Docker NetworkDB's model, issue 11). The core keeps the replica
/// (`GossipCore/ReplicatedState.swift`) and moves rows (`StateFlow.swift`); these are the
/// calls a daemon makes.
extension GossipNode {
    /// Writes (adds or replaces) one of this node's rows and gossips it: pushed at once to
    /// `Formulas.eagerFanout` members, then gossiped, and repaired by push/pull. Every member
    /// reports it as `.added` or `.updated` in `stateChanges()`, this node first.
    ///
    /// - Parameters:
    ///   - table: 1 to 128 bytes, the member-name rule (`Limits.isValidName`).
    ///   - key: 1 to `Settings.stateKeySizeLimit` bytes of printable UTF-8 (`Limits.isValidStateKey`).
    ///   - value: key plus value at most `Settings.stateValueSizeLimit` bytes.
    /// - Returns: the row's version, this node's state version after the write (one counter
    ///   over all its rows, above every version of its previous runs when the snapshot file
    ///   kept it).
    /// - Throws: `invalidRequest` with the reason (`RequestError`: `invalidName`, `tooLarge`,
    ///   `tooManyRows` over `Settings.stateRowsPerOwner`, `tooManyTables` over
    ///   `Settings.stateTables`, `clockExhausted`); a refused write changes nothing, is counted
    ///   (`Counters.requestsRefused`) and logged. `notRunning` unless the node runs.
    @discardableResult
    public func writeRow(table: String, key: String, value: [UInt8]) async throws(GossipError) -> UInt64 {
        try await onLoop { runtime, reply in reply(runtime.writeRow(table: table, key: key, value: value)) }.get()
    }

    /// Deletes one of this node's rows: a tombstone replaces it everywhere (kept
    /// `Settings.stateTombstoneAge`, so that an older copy arriving late cannot revive it), and
    /// every member reports `.removed`. Deleting a row this node does not hold does nothing.
    ///
    /// - Throws: `invalidRequest` for a bad table name or key (as `writeRow`), or
    ///   `clockExhausted`; `notRunning` unless the node runs.
    public func deleteRow(table: String, key: String) async throws(GossipError) {
        if let error = await onLoop({ runtime, reply in reply(runtime.deleteRow(table: table, key: key)) }) {
            throw error
        }
    }

    /// The replica as a sequence: first `.snapshot` of every live row held, then each
    /// `.change` as this node applies it (its own writes, rows from the network, owners
    /// unavailable, available again, or gone). Snapshot and changes are taken on the same turn
    /// of the node's event loop, so no change is missed or seen twice. A subscriber that
    /// falls `buffer` elements behind gets one `.lost(resync:)` with a fresh snapshot in place of
    /// what it missed, never a silent gap.
    ///
    /// Each call is an independent subscriber; the sequence ends when the node stops (on a
    /// stopped node: after the snapshot of what it held). Before `start` the snapshot is empty.
    public func stateChanges(buffer: Int = 65_536) async -> Updates<StateUpdate> {
        await onLoop { runtime, reply in reply(runtime.subscribeState(buffer: buffer)) }
    }

    /// Every live row held now, by owner, and which owners are unavailable.
    public func stateSnapshot() async -> StateSnapshot {
        await onLoop { runtime, reply in reply(runtime.stateSnapshot()) }
    }

    /// The live rows held of `owner` (this node's name for its own), by table and key; empty
    /// for an owner this node holds nothing of.
    public func rows(of owner: String) async -> [StateRow] {
        await onLoop { runtime, reply in reply(runtime.core?.stateRows(of: owner) ?? []) }
    }
}
