/// Replicated node-owned state: this node's replica of every owner's rows, its own version
/// counter, and which owners are unavailable (declared failed). The router
/// (`StateFlow.swift`) moves rows between this part and the network.
///
/// A row is applied only when its version is newer than the one held for its
/// `(table, owner, key)`; an older or equal one is a duplicate. Deletes are tombstones, kept
/// until `collect(now:age:)` drops them (`Settings.stateTombstoneAge`).
///
/// Visible to the package so that `state-sim-bench` can measure a replica's memory and an
/// exchange's bytes on the same code the router runs.
package struct ReplicatedState: Sendable {
    struct RowID: Hashable, Sendable {
        var table: String
        var key: StoredKey

        init(table: String, key: String) {
            self.table = table
            self.key = StoredKey(key)
        }
    }

    /// A row's key as a replica holds it. Lowercase hexadecimal of up to 32 digits (binary keys
    /// carried as text, such as the overlay's 20-digit endpoint keys) is held as its nibbles,
    /// inline; any other key as its text. A 20-digit key as text is a heap string of 64 bytes
    /// beside its dictionary entry, and a cache miss to compare; as nibbles it is neither.
    /// Canonical: a key that fits the first form is never held in the second, so equal keys
    /// are equal values and hash alike.
    enum StoredKey: Hashable, Sendable {
        case hex(high: UInt64, low: UInt64, digits: UInt8)
        case text(String)

        init(_ key: String) {
            var key = key
            self = key.withUTF8 { Self.nibbles($0) } ?? .text(key)
        }

        /// The nibbles of `utf8` if it is 1 to 32 lowercase hexadecimal digits.
        private static func nibbles(_ utf8: UnsafeBufferPointer<UInt8>) -> StoredKey? {
            guard (1...32).contains(utf8.count) else { return nil }
            var high: UInt64 = 0
            var low: UInt64 = 0
            for (i, b) in utf8.enumerated() {
                let digit = b &- UInt8(ascii: "0")
                let letter = b &- UInt8(ascii: "a")
                let nibble: UInt8
                if digit < 10 { nibble = digit } else if letter < 6 { nibble = letter &+ 10 } else { return nil }
                // Digit i of 32 sits at bits 60 - 4i of `high` (i < 16), then of `low`.
                if i < 16 { high |= UInt64(nibble) << (60 - 4 * i) } else { low |= UInt64(nibble) << (60 - 4 * (i - 16)) }
            }
            return .hex(high: high, low: low, digits: UInt8(utf8.count))
        }

        func hash(into hasher: inout Hasher) {
            switch self {
            case .hex(let high, let low, let digits):
                hasher.combine(high)
                hasher.combine(low &+ UInt64(digits))
            case .text(let key): hasher.combine(key)
            }
        }

        /// The key as it was written.
        var text: String {
            switch self {
            case .text(let key): return key
            case .hex(let high, let low, let digits):
                return String(unsafeUninitializedCapacity: Int(digits)) { out in
                    for i in 0..<Int(digits) {
                        let nibble = UInt8(truncatingIfNeeded: (i < 16 ? high >> (60 - 4 * i) : low >> (60 - 4 * (i - 16))) & 0xF)
                        out[i] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
                    }
                    return Int(digits)
                }
            }
        }
    }

    /// One row as a replica holds it: 16 bytes beside its key, so that a replica of many small
    /// rows costs little more than their encoding (Docs/benchmarks/STATE.md). The deleted flag
    /// rides in the version's top bit (versions stay below `Limits.maxIncarnation`, 2^62).
    struct Entry: Sendable {
        private var bits: UInt64
        var value: [UInt8]

        init(version: UInt64, deleted: Bool, value: [UInt8]) {
            bits = version | (deleted ? Self.deletedBit : 0)
            self.value = value
        }

        var version: UInt64 { bits & ~Self.deletedBit }
        var deleted: Bool { bits & Self.deletedBit != 0 }

        static let deletedBit: UInt64 = 1 << 63
    }

    struct Owner: Sendable {
        var rows: [RowID: Entry] = [:]
        /// When this replica stored each tombstone: its age counts from there.
        var buried: [RowID: Instant] = [:]
        /// Sum of `rowHash` over the live rows: the owner's digest entry.
        var hash: UInt64 = 0
        /// The newest version held, tombstones included (and kept when they are collected).
        var newest: UInt64 = 0
        var live = 0
        /// Rows (live or tombstones) per table, to bound the tables an owner uses; a handful of
        /// tables at most, so a list.
        var tables: [(name: String, rows: Int)] = []
        var available = true

        func holds(table: String) -> Bool { tables.contains { $0.name == table } }

        func holdsAtLeast(_ id: RowID, version: UInt64) -> Bool {
            guard let i = rows.index(forKey: id) else { return false }
            return rows.values[i].version >= version
        }

        mutating func apply(_ row: StateRow, now: Instant, rowsPerOwner: Int, tables limit: Int) -> Outcome {
            let id = RowID(table: row.table, key: row.key)
            let old = rows[id]
            if let old, old.version >= row.version { return .duplicate }
            if old == nil {
                if rows.count >= 2 * rowsPerOwner { return .tooManyRows }
                if !holds(table: row.table), tables.count >= limit { return .tooManyTables }
            }
            let wasLive = old.map { !$0.deleted } ?? false
            if !row.deleted, !wasLive, live >= rowsPerOwner { return .tooManyRows }
            if let old, !old.deleted {
                hash &-= ReplicatedState.rowHash(table: row.table, key: row.key, version: old.version)
                live -= 1
            }
            if !row.deleted {
                hash &+= ReplicatedState.rowHash(table: row.table, key: row.key, version: row.version)
                live += 1
            }
            if old == nil { count(table: row.table, 1) }
            newest = max(newest, row.version)
            rows[id] = Entry(version: row.version, deleted: row.deleted, value: row.deleted ? [] : row.value)
            // Only tombstones are buried: a live row over a live row leaves `buried` untouched.
            if row.deleted { buried[id] = now } else if old?.deleted ?? false { buried[id] = nil }
            if row.deleted { return .stored(wasLive ? .removed : nil) }
            return .stored(wasLive ? .updated : .added)
        }

        mutating func count(table: String, _ delta: Int) {
            if let i = tables.firstIndex(where: { $0.name == table }) {
                tables[i].rows += delta
                if tables[i].rows == 0 { tables.remove(at: i) }
            } else if delta > 0 {
                tables.append((table, delta))
            }
        }
    }

    private(set) var owners: [String: Owner] = [:]
    /// The highest version this node gave one of its own rows.
    private(set) var version: UInt64
    /// When this node last started an exchange with an owner back from failed.
    var lastSync: Instant?
    /// Until when rows of a previous life that this node does not hold are left in place
    /// (`Settings.stateRestoreGrace`), and those seen meanwhile.
    var restoreUntil: Instant?
    var staleOwn: Set<RowID> = []
    /// Owners of which writes may be missing here, and whether the repair timer is armed
    /// (`ReplicatedStateRepair.swift`).
    var gaps: [String: Gap] = [:]
    var repairArmed = false
    /// Owners whose newest version this node announces at the next flush.
    var toAnnounce: Set<String> = []
    /// Tree pushes past the eager budget, by child, for the next gossip round (`StateTrees.swift`).
    var deferred: [Address: [Message]] = [:]
    var deferredOrder: [Address] = []
    var deferredCount = 0
    /// Reused for the tree children of each row applied first (`pushAlongTrees`).
    var childrenScratch: [Int] = []

    package init(version: UInt64 = 0) { self.version = version }

    /// What applying a row did.
    package enum Outcome: Equatable {
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
    package mutating func apply(_ row: StateRow, now: Instant, rowsPerOwner: Int, tables: Int) -> Outcome {
        var newestBefore: UInt64 = 0
        return apply(row, now: now, rowsPerOwner: rowsPerOwner, tables: tables, newestBefore: &newestBefore)
    }

    /// The same, setting `newestBefore` to the owner's newest version before it (0 for none).
    mutating func apply(_ row: StateRow, now: Instant, rowsPerOwner: Int, tables: Int, newestBefore: inout UInt64) -> Outcome {
        // In place (a copy of the owner would copy its rows on every write), and with one hash
        // of the owner's name: most rows a replica receives are duplicates.
        func apply(to owner: inout Owner) -> Outcome {
            newestBefore = owner.newest
            return owner.apply(row, now: now, rowsPerOwner: rowsPerOwner, tables: tables)
        }
        let outcome = apply(to: &owners[row.owner, default: Owner()])
        switch outcome {
        case .stored, .duplicate: break
        case .tooManyRows, .tooManyTables: if owners[row.owner]?.rows.isEmpty ?? false { owners[row.owner] = nil }
        }
        return outcome
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

    /// Whether a row of `row`'s `(table, owner, key)` at least as new is held: most rows a
    /// replica receives are copies of one it holds, and this tells so with two lookups, reading
    /// the owner and the entry in place (a copy of either retains and releases what it holds).
    func holdsAtLeast(_ row: StateRow) -> Bool {
        guard let o = owners.index(forKey: row.owner) else { return false }
        return owners.values[o].holdsAtLeast(RowID(table: row.table, key: row.key), version: row.version)
    }

    /// Whether `owner` could add a row at `(table, key)` within the limits.
    func admits(table: String, key: String, owner: String, rowsPerOwner: Int, tables: Int) -> RequestError? {
        let o = owners[owner] ?? Owner()
        let old = o.rows[RowID(table: table, key: key)]
        if old == nil, o.rows.count >= 2 * rowsPerOwner || o.live >= rowsPerOwner { return .tooManyRows(rowsPerOwner) }
        if old?.deleted == true, o.live >= rowsPerOwner { return .tooManyRows(rowsPerOwner) }
        if old == nil, !o.holds(table: table), o.tables.count >= tables { return .tooManyTables(tables) }
        return nil
    }

    /// Marks `owner` available or not; true when that changed for an owner held (tombstones
    /// alone included: a live row of it may come next, and must not look available).
    mutating func setAvailable(_ owner: String, _ available: Bool) -> Bool {
        guard let o = owners[owner], o.available != available else { return false }
        owners[owner]!.available = available
        return true
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
            let due = owners[name]!.buried.filter { now - $0.value >= age }.keys
            if due.isEmpty { continue }
            for id in due {
                owners[name]!.buried[id] = nil
                owners[name]!.rows[id] = nil
                owners[name]!.count(table: id.table, -1)
            }
            dropped += due.count
            if owners[name]!.rows.isEmpty { owners[name] = nil }
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
            StateRow(table: id.table, owner: owner, key: id.key.text, version: e.version, deleted: e.deleted, value: e.value)
        }.sorted { ($0.table, $0.key) < ($1.table, $1.key) }
    }

    // MARK: anti-entropy

    /// One entry per owner with live rows, by owner name.
    package func digest() -> [OwnerDigest] {
        owners.compactMap { name, o in o.live == 0 ? nil : OwnerDigest(owner: name, hash: o.hash, newest: o.newest) }
            .sorted { $0.owner < $1.owner }
    }

    /// What a peer whose digest is `peer` may lack: of each owner whose hash differs (an owner
    /// missing there has hash 0 and newest 0), the rows newer than the peer's newest when this
    /// replica holds newer ones, every row when both hold the same newest, none when the peer
    /// holds newer ones (this replica is the one behind; the peer sends). Tombstones included.
    ///
    /// Usually a replica lacks an owner's latest writes, and this sends just those: the cost is
    /// the difference, not the owner's rows. A replica that missed an older write while holding
    /// a newer one is caught by the fallback: once the newest versions agree and the hashes
    /// still do not, the owner goes whole. Every exchange of a differing owner either raises
    /// one side's newest or sends the owner whole, so replicas converge.
    ///
    /// `listedOnly` holds the comparison to the owners `peer` lists (a repair request's digest
    /// names only the owners it asks about; an owner it does not list is not one it lacks).
    package func rows(differingFrom peer: [String: OwnerDigest], listedOnly: Bool = false) -> [StateRow] {
        var out: [StateRow] = []
        for name in (listedOnly ? Array(peer.keys) : Array(owners.keys)).sorted() {
            guard let o = owners[name] else { continue }
            let theirs = peer[name]
            guard o.hash != theirs?.hash ?? 0 else { continue }
            let newest = theirs?.newest ?? 0
            if o.newest < newest { continue }
            let after = o.newest == newest ? 0 : newest
            // In version order: the same bytes from every process (dictionary order is seeded).
            let start = out.count
            for (id, e) in o.rows where e.version > after {
                out.append(StateRow(table: id.table, owner: name, key: id.key.text, version: e.version, deleted: e.deleted, value: e.value))
            }
            out[start...].sort { $0.version < $1.version }
        }
        return out
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
