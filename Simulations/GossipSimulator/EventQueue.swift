import GossipCore

/// Something that happens to one simulated node at one virtual instant.
struct SimEvent {
    enum Kind {
        case datagram(from: Address, messages: [Message])
        case stream(from: Address, StreamMessage, conversation: ConversationID)
        case streamFailed(conversation: ConversationID)
        case timer(TimerID)
        case command(Input)
        case sample
    }

    var time: Int64
    var sequence: UInt64
    var node: Int32
    /// The node's life when the event was made: events for an earlier life are dropped after a crash.
    var life: UInt32
    /// Already waited out a slow node's processing delay.
    var ready: Bool
    var kind: Kind
}

/// A binary min-heap ordered by (time, sequence): events at one instant run in the order they
/// were made, which is what makes a run reproducible.
///
/// The heap holds small keys only; the events wait in slots beside it, reused through a free
/// list. Sifting then moves plain integers instead of events whose payloads need reference
/// counting on every copy, which was a tenth of a large simulation's time.
struct EventQueue {
    /// Where an event waits, ordered by time, then by sequence.
    private struct Key {
        var time: Int64
        var sequence: UInt64
        var slot: Int32
    }

    private var heap: [Key] = []
    private var slots: [SimEvent?] = []
    private var free: [Int32] = []
    private var counter: UInt64 = 0

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }
    var nextTime: Int64? { heap.first?.time }

    mutating func push(time: Int64, node: Int32, life: UInt32, ready: Bool = false, _ kind: SimEvent.Kind) {
        counter += 1
        let event = SimEvent(time: time, sequence: counter, node: node, life: life, ready: ready, kind: kind)
        let slot: Int32
        if let s = free.popLast() {
            slot = s
            slots[Int(s)] = event
        } else {
            slot = Int32(slots.count)
            slots.append(event)
        }
        let key = Key(time: time, sequence: counter, slot: slot)
        heap.append(key)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.before(key, heap[parent]) else { break }
            heap[i] = heap[parent]
            i = parent
        }
        heap[i] = key
    }

    mutating func pop() -> SimEvent? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            // Sift the last key down from the root, moving the smaller child up.
            var i = 0
            let n = heap.count
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                var m = l
                if l + 1 < n, Self.before(heap[l + 1], heap[l]) { m = l + 1 }
                guard Self.before(heap[m], last) else { break }
                heap[i] = heap[m]
                i = m
            }
            heap[i] = last
        }
        var event: SimEvent? = nil
        swap(&event, &slots[Int(top.slot)])
        free.append(top.slot)
        return event
    }

    @inline(__always)
    private static func before(_ a: Key, _ b: Key) -> Bool {
        a.time < b.time || (a.time == b.time && a.sequence < b.sequence)
    }
}
