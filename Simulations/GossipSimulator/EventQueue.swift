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
struct EventQueue {
    private var heap: [SimEvent] = []
    private var counter: UInt64 = 0

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }
    var nextTime: Int64? { heap.first?.time }

    mutating func push(time: Int64, node: Int32, life: UInt32, ready: Bool = false, _ kind: SimEvent.Kind) {
        counter += 1
        heap.append(SimEvent(time: time, sequence: counter, node: node, life: life, ready: ready, kind: kind))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if Self.before(heap[i], heap[parent]) {
                heap.swapAt(i, parent)
                i = parent
            } else {
                break
            }
        }
    }

    mutating func pop() -> SimEvent? {
        guard !heap.isEmpty else { return nil }
        if heap.count == 1 { return heap.removeLast() }
        let top = heap[0]
        heap[0] = heap.removeLast()
        var i = 0
        let n = heap.count
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var m = i
            if l < n, Self.before(heap[l], heap[m]) { m = l }
            if r < n, Self.before(heap[r], heap[m]) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return top
    }

    @inline(__always)
    static func before(_ a: SimEvent, _ b: SimEvent) -> Bool {
        a.time < b.time || (a.time == b.time && a.sequence < b.sequence)
    }
}
