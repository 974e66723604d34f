/// Updates of one broadcast class waiting to be gossiped, served least-transmitted first and,
/// among equals, newest first. A newer update about the same key replaces the older one. Each
/// update is sent until it has gone out `limit` times.
///
/// Entries live in buckets indexed by their transmit count, so filling a datagram touches only
/// the entries it takes or skips, never the whole queue.
public struct BroadcastQueue: Sendable {
    /// 32 bytes: during a join storm a node holds one per member it learned. The key is held
    /// once per slot (`slotKeys`), not per entry: superseded entries only need their slot.
    struct Entry: Sendable {
        var id: UInt64
        /// Nil once the entry is freed (its handle waits in `freeEntries`).
        var message: Message?
        /// Encoded size in bytes; a datagram's budget bounds it far below 2^31.
        var size: Int32
        /// Copies already pushed eagerly: they count against the update's retransmit limit.
        var pushed: Int32
        /// The key's place in `current` and `slotKeys`.
        var slot: Int32
    }

    /// Every entry, by handle; the buckets hold handles. A fill moves an entry from bucket to
    /// bucket as a 4-byte handle, instead of copying its key and message (which retained and
    /// released their storage a few times per transmission: a fifth of a state burst's time).
    private var entries: [Entry] = []
    private var freeEntries: [Int32] = []
    private var buckets: [[Int32]] = [[]]
    /// The slot of each key with an update queued (the update's id is `current[slot]`):
    /// open addressing with linear probing over the keys' hashes, each element a slot or -1, a
    /// power of two long and at most three quarters used. Replaces a `[BroadcastKey: Int32]`,
    /// whose buckets held a second copy of each key beside `slotKeys`.
    private var index: [Int32] = []
    /// By slot, the key whose updates it holds; nil for a free slot.
    private var slotKeys: [BroadcastKey?] = []
    /// Keys with an update queued.
    private var held = 0
    /// By slot, the id of the update queued for the slot's key, 0 when none: whether an entry
    /// is still the one to send is an array read, not a dictionary lookup per transmission
    /// (which was a tenth of a large join storm's time). A key keeps its slot while it has a
    /// queued update; a freed slot is reused, and ids are never reused, so a superseded entry
    /// never matches the id of a later key in its slot.
    private var current: [UInt64] = []
    private var freeSlots: [Int32] = []
    private var nextID: UInt64 = 1
    private var moved: [(entry: Int32, bucket: Int)] = []
    private var kept: [Int32] = []
    /// Entries held in the buckets, superseded ones included.
    private var stored = 0

    /// Updates still to be sent.
    public var count: Int { held }

    public init() {}

    /// Queues `message` about `key`, replacing any older update about it; returns its id.
    /// `pushed` copies were already sent eagerly: the update goes out `limit - pushed` more
    /// times (once at least), so an update whose eager pushes were cut short by their budget
    /// gets the gossip it missed.
    @discardableResult
    public mutating func enqueue(_ message: Message, key: BroadcastKey, pushed: Int = 0) -> UInt64 {
        let id = nextID
        nextID += 1
        // One hash of the key: a key already queued keeps its slot, a new one takes `fresh`
        // (never a held slot: those are neither free nor past the end).
        let hash = key.hashValue
        var slot: Int32
        if let held = self.slot(of: key, hash: hash) {
            slot = held
        } else {
            slot = freeSlots.last ?? Int32(current.count)
            if freeSlots.isEmpty {
                current.append(0)
                slotKeys.append(key)
            } else {
                freeSlots.removeLast()
                slotKeys[Int(slot)] = key
            }
            insertIndex(slot, hash: hash)
        }
        current[Int(slot)] = id
        let entry = Entry(
            id: id, message: message, size: Int32(clamping: message.encodedSize), pushed: Int32(clamping: pushed),
            slot: slot)
        let handle: Int32
        if let h = freeEntries.popLast() {
            handle = h
            entries[Int(h)] = entry
        } else {
            handle = Int32(entries.count)
            entries.append(entry)
        }
        buckets[0].append(handle)
        stored += 1
        // Superseded entries leave the buckets only when a fill passes over them, and a stream
        // of updates about one key (a peer raising its own incarnation as fast as it can) could
        // keep them from ever being reached. Past twice the live entries, sweep them out:
        // amortised constant time per update, and memory bounded by the keys, not the updates.
        if stored > 2 * held + 64 { dropSuperseded() }
        return id
    }

    /// Entries stored, superseded ones included (for tests of the bound).
    var storedEntries: Int { stored }

    private mutating func dropSuperseded() {
        for t in buckets.indices {
            var bucket = buckets[t]
            buckets[t] = []
            bucket.removeAll { h in
                if isCurrent(h) { return false }
                free(h)
                return true
            }
            buckets[t] = bucket
        }
        stored = buckets.reduce(0) { $0 + $1.count }
        compact()
    }

    /// Gives an entry's handle back, with its message.
    private mutating func free(_ h: Int32) {
        entries[Int(h)].message = nil
        freeEntries.append(h)
    }

    /// Once every entry is free (a join storm's updates all sent), gives the storage back
    /// instead of keeping one entry per member learned for good.
    private mutating func compact() {
        if stored == 0, entries.capacity > 64 {
            entries = []
            freeEntries = []
        }
        // No entry left refers to a slot: the slots of a storm's keys go too.
        if stored == 0, current.capacity > 64 {
            current = []
            slotKeys = []
            freeSlots = []
        }
    }

    /// True while some update about `key` is queued.
    public func hasPending(_ key: BroadcastKey) -> Bool { slot(of: key, hash: key.hashValue) != nil }

    /// True while the update with this id is still queued.
    public func isPending(_ id: UInt64, key: BroadcastKey) -> Bool {
        slot(of: key, hash: key.hashValue).map { current[Int($0)] == id } ?? false
    }

    // MARK: the key index

    /// The slot holding `key` (whose hash is `hash`), or nil.
    private func slot(of key: BroadcastKey, hash: Int) -> Int32? {
        if index.isEmpty { return nil }
        let mask = index.count - 1
        var p = hash & mask
        while true {
            let s = index[p]
            if s < 0 { return nil }
            if slotKeys[Int(s)] == key { return s }
            p = (p + 1) & mask
        }
    }

    private mutating func insertIndex(_ slot: Int32, hash: Int) {
        held += 1
        if held * 4 > index.count * 3 { rehash(capacity: Swift.max(16, index.count * 2)) }
        let mask = index.count - 1
        var p = hash & mask
        while index[p] >= 0 { p = (p + 1) & mask }
        index[p] = slot
    }

    /// Rebuilds the index over every held slot (`slotKeys` says which), `capacity` long.
    private mutating func rehash(capacity: Int) {
        index = Array(repeating: -1, count: capacity)
        let mask = capacity - 1
        for s in slotKeys.indices {
            guard let key = slotKeys[s], current[s] != 0 else { continue }
            var p = key.hashValue & mask
            while index[p] >= 0 { p = (p + 1) & mask }
            index[p] = Int32(s)
        }
    }

    /// Takes `slot`, whose key hashes to `hash`, out of the index, moving back the elements
    /// after it that would no longer be found (deletion without tombstones in linear probing).
    private mutating func removeIndex(_ slot: Int32, hash: Int) {
        held -= 1
        let mask = index.count - 1
        var hole = hash & mask
        while index[hole] != slot { hole = (hole + 1) & mask }
        var j = hole
        while true {
            j = (j + 1) & mask
            let s = index[j]
            if s < 0 { break }
            let home = slotKeys[Int(s)]!.hashValue & mask
            // The element at j may fill the hole when the hole lies between its home and j.
            if (j - home) & mask >= (j - hole) & mask {
                index[hole] = s
                hole = j
            }
        }
        index[hole] = -1
    }

    @inline(__always)
    private func isCurrent(_ h: Int32) -> Bool { current[Int(entries[Int(h)].slot)] == entries[Int(h)].id }

    /// The update of handle `h` is sent (or dropped) for good: its key has none queued any
    /// more. The handle is freed by the caller, which removes it from its bucket.
    private mutating func retire(_ h: Int32) {
        let slot = entries[Int(h)].slot
        if let key = slotKeys[Int(slot)] { removeIndex(slot, hash: key.hashValue) }
        slotKeys[Int(slot)] = nil
        current[Int(slot)] = 0
        freeSlots.append(slot)
        // A join storm queues an update per member; once they are all sent, the index gives
        // its storage back instead of keeping N buckets per node for good.
        if held == 0, index.count > 64 { index = [] }
    }

    /// Drops updates until at most `cap` remain, the most-sent first (they have done most of
    /// their work); returns how many were dropped.
    @discardableResult
    public mutating func trim(toAtMost cap: Int) -> Int {
        var dropped = 0
        var t = buckets.count - 1
        while held > cap, t >= 0 {
            var i = 0
            while held > cap, i < buckets[t].count {
                let h = buckets[t][i]
                if isCurrent(h) {
                    retire(h)
                    dropped += 1
                }
                free(h)
                i += 1
            }
            buckets[t].removeSubrange(0..<i)
            t -= 1
        }
        stored = buckets.reduce(0) { $0 + $1.count }
        compact()
        return dropped
    }

    /// Appends updates to `messages` while they fit in `budget`, and charges one transmission
    /// each. Each update goes out `limit` times in all, its eager pushes included.
    public mutating func fill(into messages: inout [Message], budget: inout Int, limit: Int) {
        guard limit > 0 else { return }
        var t = 0
        while t < buckets.count, budget >= Self.smallestMessage {
            fillBucket(t, into: &messages, budget: &budget, limit: limit)
            t += 1
        }
        // Entries taken from bucket t move to t + 1 only after the scan, so that one datagram
        // never carries the same update twice.
        for (entry, target) in moved {
            if buckets.count <= target { buckets.append([]) }
            buckets[target].append(entry)
        }
        moved.removeAll(keepingCapacity: true)
        stored = buckets.reduce(0) { $0 + $1.count }
        compact()
    }

    /// No framed message is shorter than this (type, length, one-byte body).
    static let smallestMessage = 3

    private mutating func fillBucket(_ t: Int, into messages: inout [Message], budget: inout Int, limit: Int) {
        if buckets[t].isEmpty { return }
        kept.removeAll(keepingCapacity: true)
        var i = buckets[t].count - 1
        var misfits = 0
        // A nearly full datagram would otherwise scan a long queue for the rare update small
        // enough to fit; past a few misfits in a row the rest is left for the next datagram.
        while i >= 0, budget >= Self.smallestMessage, misfits < Self.misfitLimit {
            let h = buckets[t][i]
            i -= 1
            let size = Int(entries[Int(h)].size)
            let limit = max(1, limit - Int(entries[Int(h)].pushed))
            if t < limit, size > budget {
                misfits += 1
                kept.append(h)
                continue
            }
            guard isCurrent(h) else {  // superseded by a newer update
                free(h)
                continue
            }
            misfits = 0
            if t >= limit {
                retire(h)
                free(h)
                continue
            }
            if let message = entries[Int(h)].message { messages.append(message) }
            budget -= size
            if t + 1 >= limit {
                retire(h)
                free(h)
            } else {
                moved.append((h, t + 1))
            }
        }
        // [0...i] was not scanned and keeps its order; the scanned entries that stay go after it.
        buckets[t].removeSubrange((i + 1)...)
        buckets[t].append(contentsOf: kept.reversed())
        // A join storm passes every update through every bucket; kept capacity would hold
        // limit * N entries per node for good.
        if buckets[t].isEmpty, buckets[t].capacity > 64 { buckets[t] = [] }
    }

    static let misfitLimit = 16
}
