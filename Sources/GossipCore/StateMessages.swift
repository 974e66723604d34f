/// One row of replicated node-owned state: `(table, owner, key)` names it, `version` orders its
/// values. Only `owner` writes it; every member holds a replica. A delete is a row too (a
/// tombstone, `deleted` set, empty value), so that an older value arriving late cannot revive it.
public struct StateRow: Hashable, Sendable {
    public var table: String
    public var owner: String
    public var key: String
    /// The owner's state version when it wrote the row: one counter per owner over all its
    /// tables and keys, increasing across restarts (`NodeSnapshot.stateVersion`).
    public var version: UInt64
    public var deleted: Bool
    public var value: [UInt8]

    public init(table: String, owner: String, key: String, version: UInt64, deleted: Bool = false, value: [UInt8]) {
        self.table = table
        self.owner = owner
        self.key = key
        self.version = version
        self.deleted = deleted
        self.value = value
    }
}

/// A change of this node's replica, reported as `Output.rowChanged`.
public struct RowChange: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// A row this replica did not hold live.
        case added
        /// A newer value of a row held live.
        case updated
        /// A row deleted by its owner, or withdrawn because its owner left or was reaped.
        case removed
        /// The owner was declared failed: its rows stay, but should not be acted on.
        case ownerUnavailable
        /// The owner is alive again (it refuted or rejoined): its rows hold again.
        case ownerAvailable
    }

    public var kind: Kind
    public var owner: String
    /// The row: for a delete, the tombstone; for an owner's departure, its last live value;
    /// nil for the two owner kinds.
    public var row: StateRow?

    public init(kind: Kind, owner: String, row: StateRow?) {
        self.kind = kind
        self.owner = owner
        self.row = row
    }
}

/// One owner in a state digest: a hash of the live rows this node holds of it
/// (`ReplicatedState.rowHash`, summed) and the newest version it holds of it (tombstones
/// included). Of an owner whose hash differs, the side holding newer versions sends the rows
/// newer than the other's newest; when both hold the same newest, the owner goes whole.
public struct OwnerDigest: Hashable, Sendable {
    public var owner: String
    public var hash: UInt64
    public var newest: UInt64

    public init(owner: String, hash: UInt64, newest: UInt64) {
        self.owner = owner
        self.hash = hash
        self.newest = newest
    }
}

/// An owner and the newest version of its rows the sender holds (tombstones included): a
/// lazy announcement (Plumtree's IHAVE). A replica holding an older newest for that owner
/// missed a write and asks the sender for it (`StateRepair.swift`).
public struct StateNewest: Hashable, Sendable {
    public var owner: String
    public var version: UInt64

    public init(owner: String, version: UInt64) {
        self.owner = owner
        self.version = version
    }
}
