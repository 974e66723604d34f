import GossipCore

/// What a simulation measures as it runs: every node's view (who it sees alive), convergence,
/// failure detection times, false positives, traffic, and a hash of the whole trace.
public struct SimulationMetrics: Sendable {
    /// views[v] is a bit set over member indices: set when v sees the member alive or suspect.
    var views: [[UInt64]] = []
    var seenCount: [Int] = []
    var seenLive: [Int] = []
    var columnCount: [Int] = []
    var live: [Bool] = []
    public private(set) var liveTotal = 0
    var convergedCount = 0
    var convergedFlag: [Bool] = []

    public private(set) var crashes: [CrashRecord] = []
    public private(set) var falsePositives: [FalsePositive] = []
    public private(set) var suspicions = 0
    public private(set) var falseSuspicions = 0
    public private(set) var failedEvents = 0
    public private(set) var leftEvents = 0
    public private(set) var joinedEvents = 0

    public private(set) var packetsSent = 0
    public private(set) var messagesSent = 0
    public private(set) var bytesSent = 0
    public private(set) var streamsSent = 0
    public private(set) var streamBytesSent = 0
    /// The largest datagram any node built, in bytes including the configured overhead.
    public private(set) var largestPacket = 0
    public internal(set) var wireDrops = 0

    public private(set) var hash: UInt64 = 0xcbf2_9ce4_8422_2325

    public struct CrashRecord: Sendable {
        public var node: Int
        public var at: Int64
        public var firstDetection: Int64?
        public var lastDetection: Int64?
        /// Live observers that saw it alive when it crashed.
        public var observers: Int
    }

    public struct FalsePositive: Sendable {
        public var observer: Int
        public var member: Int
        public var at: Int64
    }

    /// Every live node sees exactly the live nodes alive.
    public var converged: Bool { liveTotal > 0 && convergedCount == liveTotal }

    public var convergedNodes: Int { convergedCount }

    public func sees(_ v: Int, _ m: Int) -> Bool { bit(v, m) }

    public func seenAlive(by v: Int) -> Int { seenCount[v] }

    // MARK: bookkeeping

    mutating func grow(to n: Int) {
        while live.count < n {
            views.append([])
            seenCount.append(0)
            seenLive.append(0)
            columnCount.append(0)
            live.append(false)
            convergedFlag.append(false)
        }
    }

    func bit(_ v: Int, _ m: Int) -> Bool {
        let w = m >> 6
        return w < views[v].count && views[v][w] & (1 << UInt64(m & 63)) != 0
    }

    mutating func set(_ v: Int, _ m: Int) {
        let w = m >> 6
        while views[v].count <= w { views[v].append(0) }
        let mask: UInt64 = 1 << UInt64(m & 63)
        guard views[v][w] & mask == 0 else { return }
        views[v][w] |= mask
        seenCount[v] += 1
        columnCount[m] += 1
        if live[m] { seenLive[v] += 1 }
        refresh(v)
    }

    mutating func clear(_ v: Int, _ m: Int) {
        let w = m >> 6
        let mask: UInt64 = 1 << UInt64(m & 63)
        guard w < views[v].count, views[v][w] & mask != 0 else { return }
        views[v][w] &= ~mask
        seenCount[v] -= 1
        columnCount[m] -= 1
        if live[m] { seenLive[v] -= 1 }
        refresh(v)
    }

    mutating func refresh(_ v: Int) {
        let now = live[v] && seenCount[v] == liveTotal && seenLive[v] == liveTotal
        if now != convergedFlag[v] {
            convergedFlag[v] = now
            convergedCount += now ? 1 : -1
        }
    }

    mutating func setLive(_ m: Int, _ value: Bool) {
        guard live[m] != value else { return }
        live[m] = value
        liveTotal += value ? 1 : -1
        for v in 0..<views.count where bit(v, m) { seenLive[v] += value ? 1 : -1 }
        for v in 0..<views.count { refresh(v) }
    }

    /// A node no longer observes anything: its view is dropped.
    mutating func clearRow(_ v: Int) {
        for w in 0..<views[v].count {
            var word = views[v][w]
            while word != 0 {
                let b = word.trailingZeroBitCount
                word &= word - 1
                clear(v, w << 6 | b)
            }
        }
    }

    mutating func nodeStarted(_ i: Int) {
        clearRow(i)
        setLive(i, true)
    }

    /// Nodes `r` started knowing each other (a formed cluster): each sees all of them.
    mutating func formed(_ r: Range<Int>) {
        for i in r { nodeStarted(i) }
        for v in r {
            for m in r { set(v, m) }
        }
    }

    mutating func nodeCrashed(_ i: Int, at now: Int64) {
        setLive(i, false)
        clearRow(i)
        crashes.append(CrashRecord(node: i, at: now, firstDetection: nil, lastDetection: nil, observers: columnCount[i]))
        if columnCount[i] == 0 { crashes[crashes.count - 1].lastDetection = now }
    }

    mutating func nodeLeaving(_ i: Int) { setLive(i, false) }

    mutating func nodeLeft(_ i: Int) {
        setLive(i, false)
        clearRow(i)
    }

    mutating func observe(_ event: MembershipEvent, by v: Int, member: Int?, at now: Int64) {
        mixScalar(UInt64(event.kind.rawValue) << 56 | UInt64(v) << 24 | UInt64(member ?? 0xffffff), event.member.incarnation)
        guard let m = member else { return }
        switch event.kind {
        case .joined:
            joinedEvents += 1
            set(v, m)
        case .updated, .recovered:
            break
        case .suspected:
            suspicions += 1
            if live[m] { falseSuspicions += 1 }
        case .failed:
            failedEvents += 1
            if live[m] { falsePositives.append(FalsePositive(observer: v, member: m, at: now)) }
            clear(v, m)
            detected(m, at: now)
        case .left:
            leftEvents += 1
            clear(v, m)
        case .reaped:
            clear(v, m)
        }
    }

    mutating func detected(_ m: Int, at now: Int64) {
        guard let k = crashes.lastIndex(where: { $0.node == m && $0.lastDetection == nil }) else { return }
        if crashes[k].firstDetection == nil { crashes[k].firstDetection = now }
        if columnCount[m] == 0 { crashes[k].lastDetection = now }
    }

    mutating func sent(_ i: Int, to: Address, messages: Int, bytes: Int, at now: Int64) {
        packetsSent += 1
        messagesSent += messages
        bytesSent += bytes
        largestPacket = max(largestPacket, bytes)
        mixScalar(to.low ^ UInt64(to.port) << 40, UInt64(bytes) << 32 | UInt64(messages))
    }

    mutating func sentStream(_ i: Int, bytes: Int, hashing to: Address) {
        streamsSent += 1
        streamBytesSent += bytes
        mixScalar(to.low ^ 0x5757, UInt64(bytes))
    }

    // MARK: trace hash (FNV-1a over 64-bit words)

    mutating func mixScalar(_ a: UInt64, _ b: UInt64) {
        mixWord(a)
        mixWord(b)
    }

    @inline(__always)
    mutating func mixWord(_ w: UInt64) {
        var x = w
        for _ in 0..<8 {
            hash ^= x & 0xff
            hash = hash &* 0x0000_0100_0000_01B3
            x >>= 8
        }
    }

    mutating func mix(_ now: Int64, _ i: Int, _ input: Input) {
        let tag: UInt64 =
            switch input {
            case .start: 1
            case .join: 2
            case .leave: 3
            case .setTags: 4
            case .fireEvent: 9
            case .query: 10
            case .respond: 11
            case .writeRow: 12
            case .deleteRow: 13
            case .forceLeave: 14
            case .unreachable: 15
            case .datagram(_, let m): 5 | UInt64(m.count) << 8
            case .stream: 6
            case .streamFailed: 7
            case .timer(let id): 8 | UInt64(id.kind.code) << 8 | id.token << 16
            }
        mixScalar(UInt64(bitPattern: now), UInt64(i) << 32 | tag)
    }

    mutating func mixTimer(_ id: TimerID, _ at: Int64) {
        mixScalar(UInt64(id.kind.code) | id.token << 8, UInt64(bitPattern: at))
    }

    func sample(at now: Int64) -> Sample {
        var seen = 0
        for v in 0..<live.count where live[v] { seen += seenLive[v] }
        let detection: Double? = crashes.last.map { c in
            c.observers == 0 ? 1 : Double(c.observers - columnCount[c.node]) / Double(c.observers)
        }
        return Sample(
            time: now, liveNodes: liveTotal, convergedNodes: convergedCount,
            viewFraction: liveTotal == 0 ? 0 : Double(seen) / Double(liveTotal * liveTotal),
            detectionFraction: detection, suspicions: suspicions, falsePositives: falsePositives.count,
            bytesSent: bytesSent)
    }
}

/// The state of a simulation at one instant, for charts and CSV.
public struct Sample: Sendable {
    public var time: Int64
    public var liveNodes: Int
    public var convergedNodes: Int
    /// Share of (live observer, live member) pairs where the observer sees the member alive.
    public var viewFraction: Double
    /// Share of the last crashed node's observers that have declared it failed.
    public var detectionFraction: Double?
    public var suspicions: Int
    public var falsePositives: Int
    public var bytesSent: Int
}
