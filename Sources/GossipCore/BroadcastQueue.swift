/// Updates of one broadcast class waiting to be gossiped, served least-transmitted first and,
/// among equals, newest first. A newer update about the same key replaces the older one. Each
/// update is sent until it has gone out `limit` times.
///
/// Entries live in buckets indexed by their transmit count, so filling a datagram touches only
/// the entries it takes or skips, never the whole queue.
public struct BroadcastQueue: Sendable {
    /// 16 bytes: during a join storm a node holds one per member it learned. It holds no key:
    /// the key of an update is read from its message (`BroadcastQueue.matches`), and no id:
    /// whether an update is still queued is asked by its message (`isPending`).
    struct Entry: Sendable {
        /// `BroadcastQueue.freed` once the entry is freed (its handle waits in `freeEntries`).
        var message: Message
        /// The key's place in `slotHandles`.
        var slot: Int32
        /// Encoded size in bytes, held at 65,535: every payload budget is below it
        /// (`Settings.packetBudget` is at most 65,507), so a larger message misfits alike.
        var size: UInt16
        /// Copies already pushed eagerly: they count against the update's retransmit limit,
        /// which they stay below (at most 100 * 20), so the 16 bits hold them exactly.
        var pushed: UInt16
    }

    /// Every entry, by handle; the buckets hold handles. A fill moves an entry from bucket to
    /// bucket as a 4-byte handle, instead of copying its key and message (which retained and
    /// released their storage a few times per transmission: a fifth of a state burst's time).
    private var entries: [Entry] = []
    private var freeEntries: [Int32] = []
    private var buckets: [[Int32]] = [[]]
    /// The slot of each key with an update queued: open addressing with linear probing over the
    /// keys' hashes (`keyHash`), each element a slot or -1, a power of two long and at most
    /// three quarters used. A slot's key is not stored: it is the key of the message of the
    /// slot's current entry, except for the few keys that say something else (`strayKeys`).
    /// Replaces a `[BroadcastKey: Int32]` and a key per entry: 32 bytes of key, and its hash
    /// table's slack, per update queued, which during a large join storm is per member.
    private var index: [Int32] = []
    /// Keys with an update queued.
    private var held = 0
    /// By slot, the handle of the entry queued for the slot's key, -1 when the slot is free:
    /// whether an entry is still the one to send is an array read, not a lookup per
    /// transmission (which was a tenth of a large join storm's time). A key keeps its slot
    /// while it has a queued update, and a handle is freed only once out of every bucket, so a
    /// superseded entry never matches a later entry of its slot.
    private var slotHandles: [Int32] = []
    /// Keys that are not their message's own key (`matches`), by slot: none from the router,
    /// whose keys all name what their message is about; kept for any other caller.
    private var strayKeys: [Int32: BroadcastKey] = [:]
    private var freeSlots: [Int32] = []
    private var moved: [(entry: Int32, bucket: Int)] = []
    private var kept: [Int32] = []
    /// Entries held in the buckets, superseded ones included.
    private var stored = 0

    /// Updates still to be sent.
    public var count: Int { held }

    public init() {}

    /// Queues `message` about `key`, replacing any older update about it.
    /// `pushed` copies were already sent eagerly: the update goes out `limit - pushed` more
    /// times (once at least), so an update whose eager pushes were cut short by their budget
    /// gets the gossip it missed.
    public mutating func enqueue(_ message: Message, key: BroadcastKey, pushed: Int = 0) {
        // A key already queued keeps its slot; a new one takes a free slot or a new one.
        let own = Self.matches(key, message)
        // A member's alive carries its name's hash in its identity box.
        let hash: Int
        if own, case .alive(let a) = message { hash = a.identity.nameHash } else { hash = Self.keyHash(key) }
        var slot: Int32
        if let held = self.slot(of: key, hash: hash) {
            slot = held
        } else {
            slot = freeSlots.last ?? Int32(slotHandles.count)
            if freeSlots.isEmpty { slotHandles.appendGrowingByAQuarter(-1) } else { freeSlots.removeLast() }
            // The new slot has no entry yet (-1), so a rehash here leaves it out.
            insertIndex(slot, hash: hash)
        }
        if !own {
            strayKeys[slot] = key
        } else if !strayKeys.isEmpty {
            strayKeys[slot] = nil
        }
        let entry = Entry(
            message: message, slot: slot, size: UInt16(clamping: message.encodedSize),
            pushed: UInt16(clamping: pushed))
        let handle: Int32
        if let h = freeEntries.popLast() {
            handle = h
            entries[Int(h)] = entry
        } else {
            handle = Int32(entries.count)
            entries.appendGrowingByAQuarter(entry)
        }
        slotHandles[Int(slot)] = handle
        buckets[0].append(handle)
        stored += 1
        // Superseded entries leave the buckets only when a fill passes over them, and a stream
        // of updates about one key (a peer raising its own incarnation as fast as it can) could
        // keep them from ever being reached. Past twice the live entries, sweep them out:
        // amortised constant time per update, and memory bounded by the keys, not the updates.
        if stored > 2 * held + 64 { dropSuperseded() }
    }

    /// Bytes of the arrays this queue holds, by their capacity (messages not included: they are
    /// shared with the tables and other queues): during a join storm, per member queued.
    var footprint: Int {
        var bytes = entries.capacity * MemoryLayout<Entry>.stride + (freeEntries.capacity + index.capacity) * 4
        bytes += (slotHandles.capacity + freeSlots.capacity + kept.capacity) * 4 + moved.capacity * 16
        for b in buckets { bytes += b.capacity * 4 }
        return bytes
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
        entries[Int(h)].message = Self.freed
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
        if stored == 0, slotHandles.capacity > 64 {
            slotHandles = []
            freeSlots = []
        }
    }

    /// True while some update about `key` is queued.
    public func hasPending(_ key: BroadcastKey) -> Bool { slot(of: key, hash: Self.keyHash(key)) != nil }

    /// True while `message` is the update queued about `key`: neither sent `limit` times yet
    /// nor replaced by another. An equal message queued again counts as the same update.
    public func isPending(_ message: Message, key: BroadcastKey) -> Bool {
        slot(of: key, hash: Self.keyHash(key)).map { entries[Int(slotHandles[Int($0)])].message == message } ?? false
    }

    /// What a freed entry holds instead of its message: a value with no storage to keep alive.
    static let freed = Message.ack(Ack(sequence: 0))

    // MARK: keys read from messages

    /// Whether `key` is the key of `message`: what the message is about, as the router keys
    /// it (a member update by the member's name, an event or a query by its time and origin,
    /// a row by its table, owner and key).
    static func matches(_ key: BroadcastKey, _ message: Message) -> Bool {
        switch (key, message) {
        case (.member(let n), .alive(let a)): a.name == n
        case (.member(let n), .suspect(let x)): x.name == n
        case (.member(let n), .dead(let d)): d.name == n
        case (.userEvent(let t, let o), .userEvent(let e)): e.time == t && e.origin == o
        case (.query(let t, let o), .query(let q)): q.time == t && q.origin == o
        case (.state(let t, let o, let k), .stateRow(let r)): r.table == t && r.owner == o && r.key == k
        default: false
        }
    }

    /// A hash of `key`, equal to `messageKeyHash` of any message the key `matches`.
    static func keyHash(_ key: BroadcastKey) -> Int {
        var h = Hasher()
        switch key {
        case .member(let n): return MemberIdentity.hash(name: n)
        case .userEvent(let t, let o): Self.combine(&h, 1, t, o)
        case .query(let t, let o): Self.combine(&h, 2, t, o)
        case .state(let t, let o, let k):
            Self.combine(&h, 3, 0, t)
            h.combine(o)
            h.combine(k)
        }
        return h.finalize()
    }

    /// `keyHash` of the key `message` is about, read from the message without making the key
    /// (a row's key is a box); nil for a message with no such key.
    static func messageKeyHash(_ message: Message) -> Int? {
        var h = Hasher()
        switch message {
        // The hash kept in the box: no name is hashed per lookup, nor per slot moved in `removeIndex`.
        case .alive(let a): return a.identity.nameHash
        case .suspect(let x): h.combine(x.name)
        case .dead(let d): h.combine(d.name)
        case .userEvent(let e): Self.combine(&h, 1, e.time, e.origin)
        case .query(let q): Self.combine(&h, 2, q.time, q.origin)
        case .stateRow(let r):
            Self.combine(&h, 3, 0, r.table)
            h.combine(r.owner)
            h.combine(r.key)
        default: return nil
        }
        return h.finalize()
    }

    private static func combine(_ h: inout Hasher, _ tag: UInt8, _ time: UInt64, _ text: String) {
        h.combine(tag)
        h.combine(time)
        h.combine(text)
    }

    /// The hash of the key held in `slot`.
    private func slotHash(_ slot: Int32) -> Int {
        if !strayKeys.isEmpty, let key = strayKeys[slot] { return Self.keyHash(key) }
        return Self.messageKeyHash(entries[Int(slotHandles[Int(slot)])].message)!
    }

    /// Whether `slot` holds `key`.
    @inline(__always)
    private func slot(_ slot: Int32, holds key: BroadcastKey) -> Bool {
        if !strayKeys.isEmpty, let stray = strayKeys[slot] { return stray == key }
        return Self.matches(key, entries[Int(slotHandles[Int(slot)])].message)
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
            if slot(s, holds: key) { return s }
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

    /// Rebuilds the index over every slot with an entry, `capacity` long.
    private mutating func rehash(capacity: Int) {
        index = Array(repeating: -1, count: capacity)
        let mask = capacity - 1
        for s in slotHandles.indices where slotHandles[s] >= 0 {
            var p = slotHash(Int32(s)) & mask
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
            let home = slotHash(s) & mask
            // The element at j may fill the hole when the hole lies between its home and j.
            if (j - home) & mask >= (j - hole) & mask {
                index[hole] = s
                hole = j
            }
        }
        index[hole] = -1
    }

    @inline(__always)
    private func isCurrent(_ h: Int32) -> Bool { slotHandles[Int(entries[Int(h)].slot)] == h }

    /// The update of handle `h` is sent (or dropped) for good: its key has none queued any
    /// more. The handle is freed by the caller, which removes it from its bucket.
    private mutating func retire(_ h: Int32) {
        let slot = entries[Int(h)].slot
        removeIndex(slot, hash: slotHash(slot))
        if !strayKeys.isEmpty { strayKeys[slot] = nil }
        slotHandles[Int(slot)] = -1
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
            messages.append(entries[Int(h)].message)
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
