public import GossipCore

/// Many `GossipInstance`s in one process, on virtual time, over a seeded faulty network.
///
/// Single-threaded and deterministic: one master seed decides every latency, loss, and each
/// node's own generator, so the same seed and the same calls give the same trace, which
/// `traceHash` proves.
public final class Simulation {
    public let seed: UInt64
    public var settings: Settings
    public var network: NetworkModel
    /// Optional transform applied to every datagram in flight, for example encoding and sealing
    /// it to real bytes and back. Returning nil drops the datagram (counted as a wire drop).
    public var transport: ((Address, [Message]) -> [Message]?)?
    /// Like `transport` and `streamTransport`, given the sending and the receiving node: for
    /// what depends on both ends, such as each node sealing and opening with its own keyring.
    public var linkTransport: ((_ from: Int, _ to: Int, [Message]) -> [Message]?)?
    public var linkStreamTransport: ((_ from: Int, _ to: Int, StreamMessage) -> StreamMessage?)?
    /// The same for every stream message (push/pull requests and replies), given the address it
    /// goes to. Returning nil resets the connection: the requester's conversation fails (counted
    /// as a wire drop).
    public var streamTransport: ((Address, StreamMessage) -> StreamMessage?)?

    var rng: SeededGenerator
    var queue = EventQueue()
    /// Virtual nanoseconds since the simulation began.
    var now: Int64 = 0
    var nodes: [SimNode] = []
    var byAddress: [Address: Int32] = [:]
    var byName: [String: Int32] = [:]
    var group: [UInt8]? = nil
    /// Virtual connections whose request is on its way or being answered, by the inbound id
    /// the responder sees.
    var connections: [ConversationID: Connection] = [:]
    var nextConnection: UInt64 = 1
    var nextJoin: UInt64 = 1
    public internal(set) var metrics = SimulationMetrics()
    var sampleInterval: Int64 = 0
    public private(set) var samples: [Sample] = []
    public private(set) var eventsHandled = 0
    var observers: [(Int, MembershipEvent) -> Void] = []
    var applicationObservers: [(Int, Output) -> Void] = []
    var nextQuery: UInt64 = 1

    public init(seed: UInt64, settings: Settings = Settings(), network: NetworkModel = NetworkModel()) {
        self.seed = seed
        self.settings = settings
        self.network = network
        self.rng = SeededGenerator(seed: seed)
    }

    public var nodeCount: Int { nodes.count }

    /// Bytes a stream frame spends around its framed message: the 6-byte prefix (version,
    /// flags, length), and when sealed the 24-byte nonce and 16-byte tag (Docs/WIRE-FORMAT.md).
    /// The default is the sealed frame; set 6 for plaintext.
    public var streamFrameOverhead = 6 + 24 + 16

    /// Virtual time since the simulation began.
    public var elapsed: Duration { .nanoseconds(now) }

    /// The largest stream frame, as `StreamCodec.maxFrameSize` (8 MiB by default); a larger
    /// push/pull goes as several frames of one conversation, each counted and delivered.
    public var maxStreamFrameSize = 8 << 20

    /// The message as frames, as the runtime's codec splits it.
    func streamFrames(_ message: StreamMessage) -> [StreamMessage] {
        let body = maxStreamFrameSize - (streamFrameOverhead - 6) - 1 - WireSize.varint(UInt64(maxStreamFrameSize))
        return message.frames(maxBodySize: body)
    }

    /// The name a node gets when `addNode` is not given one: `node-<index>`.
    public static func defaultName(of i: Int) -> String { "node-\(i)" }

    /// A simulated address: 10.x.y.z:7946, never sent to a real network.
    public static func address(of i: Int) -> Address { Address(ipv4: 0x0A00_0000 + UInt32(i), port: 7946) }

    public func address(of i: Int) -> Address { nodes[i].address }

    public func name(of i: Int) -> String { nodes[i].name }

    /// The index of the node with this name, if there is one.
    public func node(named name: String) -> Int? { byName[name].map(Int.init) }

    /// Adds and starts a node; returns its index. It knows nobody until told to join.
    ///
    /// - Parameter name: the member name, checked by the core's rules (1 to 128 bytes of UTF-8
    ///   without control or bidirectional formatting characters); `node-<index>` when nil.
    /// - Throws: `SimulationError.duplicateName` when another node has the name,
    ///   `SimulationError.invalid` when the core refuses the name or the settings.
    @discardableResult
    public func addNode(name: String? = nil, tags: Tags = Tags(), address: Address? = nil) throws(SimulationError) -> Int {
        let i = nodes.count
        let addr = address ?? Self.address(of: i)
        let name = name ?? Self.defaultName(of: i)
        guard byName[name] == nil else { throw .duplicateName(name) }
        let core: GossipInstance
        do {
            core = try GossipInstance(name: name, address: addr, tags: tags, settings: settings, seed: rng.next())
        } catch {
            throw .invalid(error)
        }
        append(core, name: name, address: addr)
        metrics.grow(to: nodes.count)
        metrics.nodeStarted(i)
        return i
    }

    /// Adds and starts `count` nodes that form a cluster already, named `node-<index>`: each
    /// knows every one of them alive and confirmed (`GossipInstance.init(formedWith:…)`), as
    /// after their joins settled or after all of them restarted from snapshots. A large
    /// cluster's steady state is then simulated without its N² log N join storm. Returns
    /// their indices.
    ///
    /// The nodes share one membership table until each changes it, so memory grows with the
    /// nodes whose view changed, not with N² from the start (added at time zero; a cluster
    /// added later copies each table when the node records its own start time). Only a node's
    /// own `.joined` event is emitted (on start), not one per member it knows; the metrics
    /// count the cluster as converged at once.
    ///
    /// - Throws: `SimulationError.duplicateName` when a node already has one of the names,
    ///   `SimulationError.invalid` when the core refuses the settings.
    @discardableResult
    public func addFormedCluster(count: Int) throws(SimulationError) -> Range<Int> {
        let range = nodes.count..<nodes.count + count
        var members: [Member] = []
        members.reserveCapacity(count)
        for i in range {
            let name = Self.defaultName(of: i)
            guard byName[name] == nil else { throw .duplicateName(name) }
            members.append(
                Member(name: name, address: Self.address(of: i), incarnation: 0, status: .alive, tags: Tags(), statusChangedAt: .zero))
        }
        let membership = FormedMembership(members)
        nodes.reserveCapacity(range.upperBound)
        for (k, m) in members.enumerated() {
            let core: GossipInstance
            do {
                core = try GossipInstance(formedWith: membership, index: k, settings: settings, seed: rng.next())
            } catch {
                throw .invalid(error)
            }
            append(core, name: m.name, address: m.address)
        }
        metrics.grow(to: nodes.count)
        metrics.formed(range)
        return range
    }

    /// Records a new node and queues its start.
    func append(_ core: GossipInstance, name: String, address: Address) {
        let i = nodes.count
        nodes.append(SimNode(name: name, address: address, core: core))
        byAddress[address] = Int32(i)
        byName[name] = Int32(i)
        queue.push(time: now, node: Int32(i), life: 0, ready: true, .command(.start))
    }

    /// Asks node `i` to join through the given nodes.
    public func join(_ i: Int, through seeds: [Int], after delay: Duration = .zero, replayEvents: Bool = false) {
        let seeds = seeds.map { nodes[$0].address }
        let id = JoinID(raw: nextJoin)
        nextJoin += 1
        queue.push(
            time: now + delay.nanoseconds, node: Int32(i), life: nodes[i].life, ready: true, .command(.join(seeds: seeds, id: id, replayEvents: replayEvents)))
    }

    public func leave(_ i: Int) {
        nodes[i].leaving = true
        metrics.nodeLeaving(i)
        queue.push(time: now, node: Int32(i), life: nodes[i].life, ready: true, .command(.leave))
    }

    public func setTags(_ i: Int, _ tags: Tags) {
        queue.push(time: now, node: Int32(i), life: nodes[i].life, ready: true, .command(.setTags(tags)))
    }

    /// Node `i` fires a user event now.
    public func fireEvent(_ i: Int, name: String, payload: [UInt8] = [], coalesce: Bool = false) {
        queue.push(
            time: now, node: Int32(i), life: nodes[i].life, ready: true,
            .command(.fireEvent(name: name, payload: payload, coalesce: coalesce)))
    }

    /// Node `i` asks a query now; its acks, responses and end reach the observers with the
    /// returned id.
    @discardableResult
    public func query(_ i: Int, _ request: QueryRequest) -> QueryID {
        let id = QueryID(raw: nextQuery)
        nextQuery += 1
        queue.push(time: now, node: Int32(i), life: nodes[i].life, ready: true, .command(.query(request, id: id)))
        return id
    }

    /// Node `i` answers a query it was offered.
    public func respond(_ i: Int, to responder: QueryResponder, payload: [UInt8]) {
        queue.push(
            time: now, node: Int32(i), life: nodes[i].life, ready: true, .command(.respond(to: responder, payload: payload)))
    }

    /// Node `i` writes one of its replicated-state rows now.
    public func writeRow(_ i: Int, table: String, key: String, value: [UInt8]) {
        queue.push(
            time: now, node: Int32(i), life: nodes[i].life, ready: true, .command(.writeRow(table: table, key: key, value: value)))
    }

    /// Node `i` deletes one of its replicated-state rows now.
    public func deleteRow(_ i: Int, table: String, key: String) {
        queue.push(time: now, node: Int32(i), life: nodes[i].life, ready: true, .command(.deleteRow(table: table, key: key)))
    }

    /// Calls `observer` with every output a node gives its application: user events, queries
    /// offered, acks, responses, query ends, fired events and refused requests.
    public func observeApplication(_ observer: @escaping (Int, Output) -> Void) {
        applicationObservers.append(observer)
    }

    /// Stops node `i` at once, without a word to anyone. Its core's snapshot is kept for
    /// `restart`, as the runtime keeps its snapshot file.
    public func crash(_ i: Int) {
        guard nodes[i].running else { return }
        nodes[i].snapshot = nodes[i].core.snapshot()
        nodes[i].running = false
        nodes[i].life += 1
        metrics.nodeCrashed(i, at: now)
    }

    /// Starts a crashed node again as a new process under the same name, optionally at a new
    /// address, the way the runtime restarts one: from the snapshot its core gave when it
    /// stopped (`GossipInstance.init(resuming:…)`), so it comes back above the incarnation it
    /// last used and rejoins through the members it knew. `seeds` adds an explicit join.
    /// `losingSnapshot`: the node comes back as from a wiped disk, at incarnation 0 and with
    /// both Lamport clocks at 0.
    public func restart(_ i: Int, at newAddress: Address? = nil, joining seeds: [Int] = [], losingSnapshot: Bool = false)
        throws(SettingsError)
    {
        crash(i)
        let addr = newAddress ?? nodes[i].address
        byAddress[nodes[i].address] = nil
        byAddress[addr] = Int32(i)
        nodes[i].address = addr
        nodes[i].core = try GossipInstance(
            resuming: losingSnapshot ? NodeSnapshot() : nodes[i].snapshot ?? NodeSnapshot(), name: nodes[i].name, address: addr, tags: Tags(), settings: settings,
            seed: rng.next())
        nodes[i].running = true
        nodes[i].leaving = false
        nodes[i].busyUntil = 0
        metrics.nodeStarted(i)
        queue.push(time: now, node: Int32(i), life: nodes[i].life, ready: true, .command(.start))
        if !seeds.isEmpty { join(i, through: seeds) }
    }

    /// Node `i` stops handling anything for `duration` (a stopped process, a long GC pause);
    /// what arrives meanwhile waits in its socket buffer.
    public func pause(_ i: Int, for duration: Duration) {
        nodes[i].pausedUntil = max(nodes[i].pausedUntil, now + duration.nanoseconds)
    }

    /// Node `i` handles each input late, by a uniformly random lag in [0, 2 * meanDelay), in
    /// the order the inputs arrived (a starved scheduler, a swapping host). The lag does not
    /// accumulate: the node is late, not drowning.
    public func slow(_ i: Int, meanDelay: Duration) {
        nodes[i].slowMean = meanDelay.nanoseconds
    }

    /// Splits the network: nodes in different groups cannot reach each other.
    public func partition(_ groupOf: (Int) -> Int) {
        group = (0..<nodes.count).map { UInt8(truncatingIfNeeded: groupOf($0)) }
    }

    public func heal() { group = nil }

    /// Records a sample of the convergence state every `interval` of virtual time.
    public func sample(every interval: Duration) {
        sampleInterval = interval.nanoseconds
        queue.push(time: now, node: -1, life: 0, ready: true, .sample)
    }

    public var traceHash: UInt64 { metrics.hash }

    public func core(_ i: Int) -> GossipInstance { nodes[i].core }

    /// Bytes of every running node's member table and broadcast queues, by capacity
    /// (`GossipInstance.footprint`), summed; arrays that nodes share (a formed cluster's table
    /// before its first change) count once per node.
    public var footprint: (tables: Int, queues: Int) {
        var f = (tables: 0, queues: 0)
        for n in nodes where n.running {
            let b = n.core.footprint
            f.tables += b.table
            f.queues += b.queues
        }
        return f
    }

    /// Queues an update of any broadcast class at node `i`, as user events, queries and state
    /// rows will; lets tests load the lower classes before those features exist.
    package func enqueueBroadcast(_ i: Int, _ message: Message, key: BroadcastKey) {
        nodes[i].core.enqueueBroadcast(message, key: key)
    }
    public func isRunning(_ i: Int) -> Bool { nodes[i].running }

    /// Calls `observer` with every membership event of every node, as `(node index, event)`, in
    /// the order the nodes emit them: the values `GossipNode.events()` yields in the runtime, so
    /// code written against that stream can be driven by the simulator. Observers are called
    /// during `run` and may read the simulation, but must not change it.
    public func observeEvents(_ observer: @escaping (Int, MembershipEvent) -> Void) {
        observers.append(observer)
    }

    /// Hands node `i` a datagram from `from` now, as if it came off the network; lets tests
    /// load a node with members that have no simulated process behind them.
    package func inject(_ i: Int, datagram messages: [Message], from: Address) {
        queue.push(time: now, node: Int32(i), life: nodes[i].life, ready: true, .datagram(from: from, messages: messages))
    }

    // MARK: running

    /// Runs `duration` of virtual time.
    public func run(for duration: Duration) { run(to: now + duration.nanoseconds) }

    /// Runs until `condition` holds (checked before the first event and after every event) or
    /// `limit` of virtual time has passed; returns whether the condition became true. On true,
    /// `elapsed` is the instant it did.
    @discardableResult
    public func run(upTo limit: Duration, until condition: () -> Bool) -> Bool {
        let end = now + limit.nanoseconds
        while !condition() {
            guard let t = queue.nextTime, t <= end else {
                now = max(now, end)
                return condition()
            }
            step()
        }
        return true
    }

    func run(to end: Int64) {
        while let t = queue.nextTime, t <= end {
            step()
        }
        now = max(now, end)
    }

    func step() {
        guard let e = queue.pop() else { return }
        now = e.time
        if e.node < 0 {
            takeSample()
            if sampleInterval > 0 { queue.push(time: now + sampleInterval, node: -1, life: 0, ready: true, .sample) }
            return
        }
        let i = Int(e.node)
        guard nodes[i].running, nodes[i].life == e.life else {
            // A request reached a process that is gone: the connection is reset.
            if case .stream(_, let m, let c) = e.kind, c.isInbound, !m.more { closeUnanswered(c) }
            return
        }
        if nodes[i].pausedUntil > now {
            var deferred = e
            deferred.time = nodes[i].pausedUntil
            queue.push(time: deferred.time, node: e.node, life: e.life, ready: e.ready, e.kind)
            return
        }
        if !e.ready, nodes[i].slowMean > 0 {
            let lag = Int64(2 * Double(nodes[i].slowMean) * rng.unit())
            let at = max(now + lag, nodes[i].busyUntil)
            nodes[i].busyUntil = at
            queue.push(time: at, node: e.node, life: e.life, ready: true, e.kind)
            return
        }
        let input: Input
        switch e.kind {
        case .datagram(let from, let messages): input = .datagram(from: from, messages: messages)
        case .stream(let from, let message, let c): input = .stream(from: from, message, conversation: c)
        case .streamFailed(let c): input = .streamFailed(conversation: c)
        case .timer(let id): input = .timer(id)
        case .command(let c): input = c
        case .sample: return
        }
        eventsHandled += 1
        let outputs = nodes[i].core.handle(input, now: Instant(nanoseconds: now))
        metrics.mix(now, i, input)
        for o in outputs { perform(o, by: i) }
        // The responder handled the request's last frame without answering: it closes the connection.
        if case .stream(_, let m, let c) = e.kind, c.isInbound, !m.more { closeUnanswered(c) }
    }

    func perform(_ o: Output, by i: Int) {
        let life = nodes[i].life
        switch o {
        case .timer(let id, let at):
            metrics.mixTimer(id, at.nanoseconds)
            queue.push(time: max(at.nanoseconds, now), node: Int32(i), life: life, .timer(id))
        case .datagram(let to, let messages):
            let bytes = messages.reduce(settings.packetOverhead) { $0 + $1.encodedSize }
            metrics.sent(i, to: to, messages: messages.count, bytes: bytes, at: now)
            deliver(messages, from: i, to: to)
        case .stream(let to, let message, let c):
            let frames = streamFrames(message)
            for f in frames { metrics.sentStream(i, bytes: streamBytes(f), hashing: to) }
            deliverStream(frames, from: i, to: to, conversation: c)
        case .reply(let c, let message):
            guard let conn = connections.removeValue(forKey: c) else { return }
            let frames = streamFrames(message)
            for f in frames { metrics.sentStream(i, bytes: streamBytes(f), hashing: conn.originAddress) }
            guard nodes[conn.origin].life == conn.originLife else { return }
            let at = now + latency()
            for f in frames {
                guard let carried = carry(f, from: i, to: conn.origin) else {
                    queue.push(time: at, node: Int32(conn.origin), life: conn.originLife, .streamFailed(conversation: conn.conversation))
                    return
                }
                queue.push(
                    time: at, node: Int32(conn.origin), life: conn.originLife,
                    .stream(from: nodes[i].address, carried, conversation: conn.conversation))
            }
        case .event(let event):
            metrics.observe(event, by: i, member: byName[event.member.name].map(Int.init), at: now)
            for observer in observers { observer(i, event) }
        case .joinCompleted(let outcome):
            metrics.mixScalar(0x6a01, UInt64(outcome.contacted))
        case .refused(let reason, _):
            metrics.mixScalar(0x4ef0, UInt64(reason.rawValue))
        case .nameConflict:
            metrics.mixScalar(0xc0f1, UInt64(i))
        case .userEvent(let e):
            metrics.mixScalar(0xe7e7, e.time ^ UInt64(i) << 32)
            for observer in applicationObservers { observer(i, o) }
        case .eventFired, .query, .queryAck, .queryResponse, .queryFinished, .requestRefused, .rowChanged:
            metrics.mixScalar(0x9e7e, UInt64(i))
            for observer in applicationObservers { observer(i, o) }
        case .leaveCompleted:
            metrics.mixScalar(0x1ea7, UInt64(i))
            nodes[i].snapshot = nodes[i].core.snapshot()
            nodes[i].running = false
            nodes[i].life += 1
            metrics.nodeLeft(i)
        }
    }

    func reachable(_ a: Int, _ b: Int) -> Bool {
        guard let group else { return true }
        return group[a] == group[b]
    }

    func latency() -> Int64 {
        network.latency.nanoseconds + Int64(rng.unit() * Double(network.jitter.nanoseconds))
    }

    func deliver(_ messages: [Message], from i: Int, to: Address) {
        guard let j = byAddress[to].map(Int.init), reachable(i, j) else { return }
        if network.loss > 0, rng.unit() < network.loss { return }
        var payload = messages
        if let transport {
            guard let passed = transport(to, messages) else {
                metrics.wireDrops += 1
                return
            }
            payload = passed
        }
        if let linkTransport {
            guard let passed = linkTransport(i, j, payload) else {
                metrics.wireDrops += 1
                return
            }
            payload = passed
        }
        let from = nodes[i].address
        queue.push(time: now + latency(), node: Int32(j), life: nodes[j].life, .datagram(from: from, messages: payload))
        if network.duplication > 0, rng.unit() < network.duplication {
            queue.push(time: now + latency(), node: Int32(j), life: nodes[j].life, .datagram(from: from, messages: payload))
        }
    }

    /// The real bytes of the frame that carries `message`: its framed size from the one layout
    /// of each message, plus the frame around it.
    func streamBytes(_ message: StreamMessage) -> Int { streamFrameOverhead + message.encodedSize }

    /// Streams are reliable, like TCP: a reachable peer gets the request after a handshake and
    /// answers on the same connection; an unreachable one makes the sender's conversation fail
    /// (refused at once by a live host whose process is gone, timed out across a partition).
    /// The frames of one message arrive together, in order, on the same connection.
    func deliverStream(_ frames: [StreamMessage], from i: Int, to: Address, conversation c: ConversationID) {
        let life = nodes[i].life
        guard let j = byAddress[to].map(Int.init), reachable(i, j) else {
            queue.push(time: now + network.streamTimeout.nanoseconds, node: Int32(i), life: life, .streamFailed(conversation: c))
            return
        }
        var carried: [StreamMessage] = []
        for f in frames {
            guard nodes[j].running, let passed = carry(f, from: i, to: j) else {
                queue.push(time: now + 2 * latency(), node: Int32(i), life: life, .streamFailed(conversation: c))
                return
            }
            carried.append(passed)
        }
        let inbound = ConversationID.inbound(nextConnection)
        nextConnection += 1
        connections[inbound] = Connection(origin: i, originLife: life, originAddress: nodes[i].address, conversation: c)
        let at = now + 3 * latency()
        for f in carried {
            queue.push(time: at, node: Int32(j), life: nodes[j].life, .stream(from: nodes[i].address, f, conversation: inbound))
        }
    }

    /// A stream message from node `i` to node `j` after `streamTransport` and
    /// `linkStreamTransport`, or nil when either dropped it.
    func carry(_ message: StreamMessage, from i: Int, to j: Int) -> StreamMessage? {
        var m = message
        if let streamTransport {
            guard let passed = streamTransport(nodes[j].address, m) else {
                metrics.wireDrops += 1
                return nil
            }
            m = passed
        }
        if let linkStreamTransport {
            guard let passed = linkStreamTransport(i, j, m) else {
                metrics.wireDrops += 1
                return nil
            }
            m = passed
        }
        return m
    }

    /// The responder closed (or lost) a connection without a reply: the requester's
    /// conversation fails when the close reaches it.
    func closeUnanswered(_ inbound: ConversationID) {
        guard let conn = connections.removeValue(forKey: inbound) else { return }
        queue.push(time: now + latency(), node: Int32(conn.origin), life: conn.originLife, .streamFailed(conversation: conn.conversation))
    }

    func takeSample() {
        samples.append(metrics.sample(at: now))
        let f = footprint
        if f.tables + f.queues > peakFootprint.tables + peakFootprint.queues { peakFootprint = f }
    }

    /// The largest `footprint` (tables and queues together) of the samples taken (`sample(every:)`).
    public private(set) var peakFootprint: (tables: Int, queues: Int) = (0, 0)
}

/// One virtual TCP connection: who opened it, and under which of its conversation ids.
/// Why `Simulation.addNode` refused a node.
public enum SimulationError: Error, Equatable, CustomStringConvertible {
    /// The core refused the name or the settings.
    case invalid(SettingsError)
    /// Another node of this simulation already has the name.
    case duplicateName(String)

    public var description: String {
        switch self {
        case .invalid(let e): e.description
        case .duplicateName(let name): "a node named \(Limits.escaped(name)) is already in the simulation"
        }
    }
}

/// One virtual TCP connection: who opened it, and under which of its conversation ids.
struct Connection {
    var origin: Int
    var originLife: UInt32
    var originAddress: Address
    var conversation: ConversationID
}

struct SimNode {
    var name: String
    var address: Address
    var core: GossipInstance
    var running = true
    var leaving = false
    var life: UInt32 = 0
    var pausedUntil: Int64 = 0
    var slowMean: Int64 = 0
    var busyUntil: Int64 = 0
    /// What the core said a restart needs, taken when the node stopped.
    var snapshot: NodeSnapshot?
}
