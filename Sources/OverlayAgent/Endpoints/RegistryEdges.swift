import Gossip
import Overlay

/// Where an owner's overlay rows go: the gossip node in the agent (`GossipRows`), a fake that
/// fails on demand in the fault-injection tests. A write or delete that throws changed nothing.
protocol RowPublisher: Sendable {
    /// - Returns: the row's version.
    /// - Throws: `OverlayRowError` for a row no host would accept, `GossipError` for a write
    ///   the node refused (not running, over a limit).
    @discardableResult
    func write(_ row: OverlayRow) async throws -> UInt64
    /// - Throws: `GossipError` for a delete the node refused.
    func delete(_ row: OverlayRow) async throws
}

/// The agent's rows as rows of its gossip node's replicated state (table `OverlayRow.table`).
struct GossipRows: RowPublisher {
    let node: GossipNode

    @discardableResult
    func write(_ row: OverlayRow) async throws -> UInt64 {
        try await node.writeRow(table: OverlayRow.table, key: row.stateKey, value: try row.value())
    }

    func delete(_ row: OverlayRow) async throws {
        try await node.deleteRow(table: OverlayRow.table, key: row.stateKey)
    }
}

/// Where the endpoint registry is kept: `EndpointStore` (`endpoints.json` and its log, written
/// on the persistence thread) in the agent, a store that fails on demand in the fault-injection
/// tests. A save that throws left the previous contents in place.
protocol RegistryDisk: Sendable {
    /// Writes `records`, the changes since the last save that succeeded, in order; or the
    /// whole registry, `whole()`, when `records` is nil (the store may also choose to).
    func save(_ records: [RegistryRecord]?, whole: @escaping @Sendable () -> EndpointStore.Contents) async throws(StoreError)
}
