/// Updates of one broadcast class waiting to be gossiped, served least-transmitted first and,
/// among equals, newest first. A newer update about the same key replaces the older one. Each
/// update is sent until it has gone out `limit` times.
///
/// Entries live in buckets indexed by their transmit count, so filling a datagram touches only
/// the entries it takes or skips, never the whole queue.
public struct BroadcastQueue: Sendable {
    struct Entry: Sendable {
        var key: BroadcastKey
        var message: Message
        var size: Int
        var id: UInt64
        /// Copies already pushed eagerly: they count against the update's retransmit limit.
        var pushed: Int
    }

    private var buckets: [[Entry]] = [[]]
    private var latest: [BroadcastKey: UInt64] = [:]
    private var nextID: UInt64 = 1
    private var moved: [(entry: Entry, bucket: Int)] = []
    private var kept: [Entry] = []
    /// Entries held in the buckets, superseded ones included.
    private var stored = 0

    /// Updates still to be sent.
    public var count: Int { latest.count }

    public init() {}

    /// Queues `message` about `key`, replacing any older update about it; returns its id.
    /// `pushed` copies were already sent eagerly: the update goes out `limit - pushed` more
    /// times (once at least), so an update whose eager pushes were cut short by their budget
    /// gets the gossip it missed.
    @discardableResult
    public mutating func enqueue(_ message: Message, key: BroadcastKey, pushed: Int = 0) -> UInt64 {
        let id = nextID
        nextID += 1
        latest[key] = id
        buckets[0].append(Entry(key: key, message: message, size: message.encodedSize, id: id, pushed: pushed))
        stored += 1
        // Superseded entries leave the buckets only when a fill passes over them, and a stream
        // of updates about one key (a peer raising its own incarnation as fast as it can) could
        // keep them from ever being reached. Past twice the live entries, sweep them out:
        // amortised constant time per update, and memory bounded by the keys, not the updates.
        if stored > 2 * latest.count + 64 { dropSuperseded() }
        return id
    }

    /// Entries stored, superseded ones included (for tests of the bound).
    var storedEntries: Int { stored }

    private mutating func dropSuperseded() {
        for t in buckets.indices {
            buckets[t].removeAll { latest[$0.key] != $0.id }
        }
        stored = buckets.reduce(0) { $0 + $1.count }
    }

    /// True while some update about `key` is queued.
    public func hasPending(_ key: BroadcastKey) -> Bool { latest[key] != nil }

    /// True while the update with this id is still queued.
    public func isPending(_ id: UInt64, key: BroadcastKey) -> Bool { latest[key] == id }

    /// Drops updates until at most `cap` remain, the most-sent first (they have done most of
    /// their work); returns how many were dropped.
    @discardableResult
    public mutating func trim(toAtMost cap: Int) -> Int {
        var dropped = 0
        var t = buckets.count - 1
        while latest.count > cap, t >= 0 {
            var i = 0
            while latest.count > cap, i < buckets[t].count {
                let e = buckets[t][i]
                if latest[e.key] == e.id {
                    latest[e.key] = nil
                    dropped += 1
                }
                i += 1
            }
            buckets[t].removeSubrange(0..<i)
            t -= 1
        }
        stored = buckets.reduce(0) { $0 + $1.count }
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
            let e = buckets[t][i]
            i -= 1
            let limit = max(1, limit - e.pushed)
            if t < limit, e.size > budget {
                misfits += 1
                kept.append(e)
                continue
            }
            guard latest[e.key] == e.id else { continue }  // superseded by a newer update
            misfits = 0
            if t >= limit {
                latest[e.key] = nil
                continue
            }
            messages.append(e.message)
            budget -= e.size
            if t + 1 >= limit {
                latest[e.key] = nil
            } else {
                moved.append((e, t + 1))
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
