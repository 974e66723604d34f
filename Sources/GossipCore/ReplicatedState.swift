/// Replicated node-owned state: this node's replica of every owner's rows, its own version
/// counter, and which owners are unavailable (declared failed). The router
/// (`StateFlow.swift`) moves rows between this part and the network.
///
/// A row is applied only when its version is newer than the one held for its
/// `(table, owner, key)`; an older or equal one is a duplicate. Deletes are tombstones, kept
/// until `collect(now:age:)` drops them (`Settings.stateTombstoneAge`).
struct ReplicatedState: Sendable {
    struct RowID: Hashable, Sendable {
        var table: String
        var key: String
    }

    struct Entry: Sendable {
        var version: UInt64
        var deleted: Bool
        var value: [UInt8]
        /// When this replica stored it: a tombstone's age counts from here.
        var storedAt: Instant
    }

    struct Owner: Sendable {
        var rows: [RowID: Entry] = [:]
        /// Sum of `rowHash` over the live rows: the owner's digest entry.
        var hash: UInt64 = 0
        var live = 0
        /// Rows (live or tombstones) per table, to bound the tables an owner uses.
        var tables: [String: Int] = [:]
        var available = true
    }

    private(set) var owners: [String: Owner] = [:]
    /// The highest version this node gave one of its own rows.
    private(set) var version: UInt64

    init(version: UInt64 = 0) { self.version = version }

    /// What applying a row did.
    enum Outcome: Equatable {
        /// Stored; the change a consumer sees, or nil for a tombstone of a row not held live.
        case stored(RowChange.Kind?)
        /// Older than or as old as the row held.
        case duplicate
        /// The owner holds `rowsPerOwner` live rows (or twice that with tombstones), or
        /// `tables` tables, already.
        case tooManyRows
        case tooManyTables
    }

    /// Applies `row` if newer than what is held for its `(table, owner, key)`.
    mutating func apply(_ row: StateRow, now: Instant, rowsPerOwner: Int, tables: Int) -> Outcome {
        let id = RowID(table: row.table, key: row.key)
        var o = owners[row.owner] ?? Owner()
        let old = o.rows[id]
        if let old, old.version >= row.version { return .duplicate }
        if old == nil {
            if o.rows.count >= 2 * rowsPerOwner { return .tooManyRows }
            if o.tables[row.table] == nil, o.tables.count >= tables { return .tooManyTables }
        }
        let wasLive = old.map { !$0.deleted } ?? false
        if !row.deleted, !wasLive, o.live >= rowsPerOwner { return .tooManyRows }
        if let old, !old.deleted {
            o.hash &-= Self.rowHash(table: row.table, key: row.key, version: old.version)
            o.live -= 1
        }
        if !row.deleted {
            o.hash &+= Self.rowHash(table: row.table, key: row.key, version: row.version)
            o.live += 1
        }
        if old == nil { o.tables[row.table, default: 0] += 1 }
        o.rows[id] = Entry(version: row.version, deleted: row.deleted, value: row.deleted ? [] : row.value, storedAt: now)
        owners[row.owner] = o
        if row.deleted { return .stored(wasLive ? .removed : nil) }
        return .stored(wasLive ? .updated : .added)
    }

    /// The next version for one of this node's own rows, or nil at the ceiling
    /// (`Limits.maxIncarnation`, the bound every version on the wire is held to).
    mutating func nextVersion() -> UInt64? {
        guard version + 1 < Limits.maxIncarnation else { return nil }
        version += 1
        return version
    }

    /// Keeps this node's counter above a version of its own seen elsewhere (a previous life
    /// whose snapshot was lost).
    mutating func witness(ownVersion v: UInt64) {
        if v > version, v < Limits.maxIncarnation { version = v }
    }

    /// The row held for `(table, owner, key)`, tombstones included.
    func row(table: String, owner: String, key: String) -> StateRow? {
        guard let e = owners[owner]?.rows[RowID(table: table, key: key)] else { return nil }
        return StateRow(table: table, owner: owner, key: key, version: e.version, deleted: e.deleted, value: e.value)
    }

    /// Whether `owner` could add a row at `(table, key)` within the limits.
    func admits(table: String, key: String, owner: String, rowsPerOwner: Int, tables: Int) -> RequestError? {
        let o = owners[owner] ?? Owner()
        let old = o.rows[RowID(table: table, key: key)]
        if old == nil, o.rows.count >= 2 * rowsPerOwner || o.live >= rowsPerOwner { return .tooManyRows(rowsPerOwner) }
        if old?.deleted == true, o.live >= rowsPerOwner { return .tooManyRows(rowsPerOwner) }
        if old == nil, o.tables[table] == nil, o.tables.count >= tables { return .tooManyTables(tables) }
        return nil
    }

    /// Marks `owner` available or not; true when that changed and it holds live rows.
    mutating func setAvailable(_ owner: String, _ available: Bool) -> Bool {
        guard var o = owners[owner], o.available != available else { return false }
        o.available = available
        owners[owner] = o
        return o.live > 0
    }

    func isAvailable(_ owner: String) -> Bool { owners[owner]?.available ?? true }

    /// Forgets every row of `owner`; returns the live ones, sorted.
    mutating func removeOwner(_ owner: String) -> [StateRow] {
        guard owners[owner] != nil else { return [] }
        let gone = liveRows(of: owner)
        owners[owner] = nil
        return gone
    }

    /// Drops tombstones stored `age` or longer before `now`; returns how many.
    mutating func collect(now: Instant, age: Duration) -> Int {
        var dropped = 0
        for name in Array(owners.keys) {
            guard var o = owners[name] else { continue }
            let before = o.rows.count
            o.rows = o.rows.filter { id, e in
                guard e.deleted, now - e.storedAt >= age else { return true }
                o.tables[id.table, default: 1] -= 1
                if o.tables[id.table] == 0 { o.tables[id.table] = nil }
                return false
            }
            guard o.rows.count != before else { continue }
            dropped += before - o.rows.count
            owners[name] = o.rows.isEmpty ? nil : o
        }
        return dropped
    }

    /// The live rows of `owner`, by table and key.
    func liveRows(of owner: String) -> [StateRow] {
        rows(of: owner).filter { !$0.deleted }
    }

    /// Every row of `owner`, tombstones included, by table and key.
    func rows(of owner: String) -> [StateRow] {
        guard let o = owners[owner] else { return [] }
        return o.rows.map { id, e in
            StateRow(table: id.table, owner: owner, key: id.key, version: e.version, deleted: e.deleted, value: e.value)
        }.sorted { ($0.table, $0.key) < ($1.table, $1.key) }
    }

    // MARK: anti-entropy

    /// One entry per owner with live rows, by owner name.
    func digest() -> [OwnerDigest] {
        owners.compactMap { name, o in o.hash == 0 && o.live == 0 ? nil : OwnerDigest(owner: name, hash: o.hash) }
            .sorted { $0.owner < $1.owner }
    }

    /// Every row (tombstones included) of the owners whose digest differs from `peer`'s (an
    /// owner missing there has hash 0): what the peer may lack. Owners held with no live row
    /// and missing at the peer are skipped; their tombstones can delete nothing there.
    func rows(differingFrom peer: [String: UInt64]) -> [StateRow] {
        var out: [StateRow] = []
        for name in owners.keys.sorted() where owners[name]!.hash != (peer[name] ?? 0) {
            out += rows(of: name)
        }
        return out
    }

    /// The owners whose digest differs from `peer`'s, as `rows(differingFrom:)` would send.
    func differs(from peer: [String: UInt64]) -> Bool {
        owners.contains { name, o in o.hash != (peer[name] ?? 0) }
    }

    /// A row's share of its owner's digest: FNV-1a over table, key and version, then mixed
    /// (SplitMix64's finaliser) so that sums of nearby versions do not collide. Fixed, unlike
    /// Swift's `Hasher`, whose seed differs per process: both ends must compute the same.
    static func rowHash(table: String, key: String, version: UInt64) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        @inline(__always) func mix(_ b: UInt8) {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        for b in table.utf8 { mix(b) }
        mix(0xff)
        for b in key.utf8 { mix(b) }
        mix(0xff)
        var v = version
        for _ in 0..<8 {
            mix(UInt8(truncatingIfNeeded: v))
            v >>= 8
        }
        h = (h ^ (h >> 30)) &* 0xbf58_476d_1ce4_e5b9
        h = (h ^ (h >> 27)) &* 0x94d0_49bb_1331_11eb
        return h ^ (h >> 31)
    }
}
