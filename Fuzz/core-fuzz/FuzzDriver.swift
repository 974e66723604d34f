import GossipCore

// The core fuzzer's driver: it reads the input bytes as a script that runs 3 to 5 live
// `GossipInstance` values on virtual time, lets them talk (datagrams and stream conversations,
// delivered, dropped, duplicated or reordered as the script says), and injects attacker input
// into them, decoded by the real codec (in the fuzz target) or built directly as core values.
// After every input a node handles, the invariants below are checked; a violation is a
// `fatalError` naming the invariant, which libFuzzer reports as a crash.
//
// This file depends on GossipCore alone: Tests/GossipCoreTests/FuzzDriver.swift is a symbolic
// link to it, so the regression tests replay vectors through this very code without libFuzzer
// or the codec. Keep it that way (no GossipWire here; the codec comes in through
// `AttackerDecoder`).
//
// Script format (Docs/FUZZING.md has the long form): 6 header bytes choose the cluster shape
// and settings, then each byte is an operation followed by its operands. A missing operand
// byte reads as 0; the script ends with the input or after `maxSteps` inputs handled.

/// Decodes attacker bytes into what a shell would hand the core. The fuzz target uses the real
/// codec (PacketCodec.open, StreamCodec frames); the tests use `NoDecoder`.
protocol AttackerDecoder {
    /// The messages of one plaintext datagram, or nil if the codec refuses it.
    func datagram(_ bytes: ArraySlice<UInt8>) -> [Message]?
    /// The items of one plaintext stream, frame by frame, until the codec stops.
    func stream(_ bytes: ArraySlice<UInt8>) -> [AttackerStreamItem]
    /// Forged values through the codec and back: encoded as one plaintext datagram (or
    /// frame), `edits` applied to the bytes (offset modulo the length, new byte), decoded
    /// again. Nearly every such packet is one the decoder accepts, which random bytes rarely
    /// are. Nil (or nothing) if the codec refuses either way, or there is no codec.
    func reencoded(_ messages: [Message], edits: [(offset: Int, value: UInt8)]) -> [Message]?
    func reencoded(_ message: StreamMessage, edits: [(offset: Int, value: UInt8)]) -> [AttackerStreamItem]
}

enum AttackerStreamItem {
    case stream(StreamMessage)
    case message(Message)
}

/// For builds without the codec: every attacker byte string is refused, as undecodable input is.
struct NoDecoder: AttackerDecoder {
    func datagram(_ bytes: ArraySlice<UInt8>) -> [Message]? { nil }
    func stream(_ bytes: ArraySlice<UInt8>) -> [AttackerStreamItem] { [] }
    func reencoded(_ messages: [Message], edits: [(offset: Int, value: UInt8)]) -> [Message]? { nil }
    func reencoded(_ message: StreamMessage, edits: [(offset: Int, value: UInt8)]) -> [AttackerStreamItem] { [] }
}

/// The script's operations. The opcode is `byte % count`, so the count is part of the script
/// format: add operations at the end only, and know that every saved script then means
/// something else (the regression vectors name their operations, and keep their meaning).
enum FuzzOp: UInt8, CaseIterable {
    case fireEarliest, fireNode, advance, deliver, drop, duplicate, settle
    case codecDatagram, codecStream, forgedDatagram, forgedPushPull, answerRequest
    case join, leave, setTags, restart, partition, sniffedAck, fillTable, settleLong
    case codecRoundTrip
    case fireEvent, query, respond
    case writeRow, deleteRow, forgedStateRows
}

struct CoreFuzzDriver<Decoder: AttackerDecoder> {
    /// Inputs handled per script at most, so that every script runs in bounded time.
    static var maxSteps: Int { 200 }
    /// Items in flight at most; beyond it the oldest is lost (a congested network).
    static var maxInFlight: Int { 256 }

    enum InFlight {
        case datagram(from: Int, to: Address, messages: [Message])
        /// A stream request from node `from`, on its conversation `conversation`.
        case request(from: Int, to: Address, StreamMessage, conversation: ConversationID)
        /// The answer to node `to`'s conversation, from `from`.
        case reply(to: Int, from: Address, StreamMessage, conversation: ConversationID)
    }

    struct Timer {
        var id: TimerID
        var at: Instant
    }

    let decoder: Decoder
    var script: [UInt8]
    var position = 0

    var settings = Settings()
    var names: [String] = []
    var addresses: [Address] = []
    var nodes: [GossipInstance] = []
    var timers: [[Timer]] = []
    var partitioned: [Bool] = []
    var restarts: [UInt64] = []
    /// User events each node delivered since it last started: delivering one twice is a violation.
    var delivered: [Set<String>] = []
    /// Queries offered to each node, the latest few, for `respond`.
    var offered: [[QueryResponder]] = []
    var nextQuery: UInt64 = 1
    var now = Instant.zero
    var inFlight: [InFlight] = []
    var nextInbound: UInt64 = 1
    /// Sequence numbers seen in pings on the wire (an attacker on the path sees them).
    var sniffed: [UInt32] = []
    var steps = 0
    var seed: UInt64 = 0
    var fakeFamily6 = false
    /// Attacker datagrams and stream items the codec accepted and the core was fed.
    var codecAccepted = 0
    /// Member names already found valid in this script.
    var validNames: Set<String> = []
    /// Joins started and not yet completed: each must complete exactly once.
    var openJoins: Set<JoinID> = []
    var joinsStarted: UInt64 = 0

    init(_ bytes: some Collection<UInt8>, decoder: Decoder) {
        self.decoder = decoder
        self.script = Array(bytes)
        inFlight.reserveCapacity(Self.maxInFlight + 16)
    }

    /// Runs one whole script. Traps (through `fatalError`) on the first broken invariant.
    @discardableResult
    static func run(_ bytes: some Collection<UInt8>, decoder: Decoder) -> CoreFuzzDriver {
        var d = CoreFuzzDriver(bytes, decoder: decoder)
        d.setUp()
        while d.position < d.script.count, d.steps < maxSteps {
            d.step()
        }
        return d
    }

    // MARK: reading the script

    mutating func byte() -> UInt8 {
        guard position < script.count else { return 0 }
        defer { position += 1 }
        return script[position]
    }

    mutating func u16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }
    mutating func u32() -> UInt32 { UInt32(u16()) << 16 | UInt32(u16()) }
    mutating func u64() -> UInt64 { UInt64(u32()) << 32 | UInt64(u32()) }

    /// A length byte and that many bytes (fewer at the end of the script).
    mutating func blob() -> ArraySlice<UInt8> {
        var n = Int(byte())
        if n >= 0xf0 { n = (n - 0xf0 + 1) * 256 + Int(byte()) }  // long form, up to ~4 KiB
        let start = min(position, script.count)
        let end = min(start + n, script.count)
        position = end
        return script[start..<end]
    }

    // MARK: cluster

    mutating func setUp() {
        let h0 = byte(), h1 = byte(), h2 = byte(), h3 = byte(), h4 = byte(), h5 = byte()
        var mix: UInt64 = 0x243F_6A88_85A3_08D3
        for b in [h0, h1, h2, h3, h4, h5] { mix = (mix ^ UInt64(b)) &* 0x100_0000_01B3 }
        seed = mix
        let count = 3 + Int(h0 % 3)
        var s = Settings()
        s.lifeguard = h0 & 0x04 == 0
        let payload = [Message.largestFixedSize, 420, 1400, 600][Int(h1 & 3)]
        s.packetOverhead = [0, 40, 0, 73][Int(h1 >> 2 & 3)]
        s.packetBudget = payload + s.packetOverhead
        s.maxMembers = [64, 16, 8, 5][Int(h2 & 3)]
        s.maxMembersLearnedPerExchange = [16, 4, 1, 64][Int(h2 >> 2 & 3)]
        s.reapFailedAfter = [.seconds(24 * 3600), .seconds(5), .zero, .seconds(60)][Int(h2 >> 4 & 3)]
        s.reapLeftAfter = [.seconds(24 * 3600), .seconds(5), .zero, .seconds(60)][Int(h2 >> 6 & 3)]
        s.gossipToTheDead = [.seconds(30), .zero][Int(h3 & 1)]
        s.suspicionMultiplier = [4, 1][Int(h3 >> 1 & 1)]
        s.indirectChecks = [3, 0, 1, 16][Int(h3 >> 2 & 3)]
        s.joinMaxAttempts = [3, 1][Int(h3 >> 4 & 1)]
        s.retransmitMultiplier = [4, 1][Int(h3 >> 5 & 1)]
        s.gossipNodes = [3, 1][Int(h3 >> 6 & 1)]
        s.awarenessMaxMultiplier = [8, 1][Int(h3 >> 7 & 1)]
        settings = s

        // Addresses: plain IPv4, loopback, IPv6, or mixed families (node 0 on IPv6).
        let family = h4 & 3
        fakeFamily6 = family == 2
        let longNames = h4 & 4 != 0
        for i in 0..<count {
            let name = longNames ? String(repeating: "n", count: Limits.maxNameLength - 1) + "\(i)" : "n\(i)"
            let address: Address =
                switch family {
                case 1: Address(ipv4: 0x7F00_0001 + UInt32(i), port: 7946)
                case 2: Address(ipv6High: 0xFD00_0000_0000_0000, low: UInt64(i + 1), port: 7946)
                case 3 where i == 0: Address(ipv6High: 0xFD00_0000_0000_0000, low: 1, port: 7946)
                default: Address(ipv4: 0x0A00_0001 + UInt32(i), port: 7946)
                }
            names.append(name)
            addresses.append(address)
            timers.append([])
            partitioned.append(false)
            restarts.append(0)
            delivered.append([])
            offered.append([])
            nodes.append(makeNode(i, incarnation: 0))
            handle(i, .start)
        }
        // Most scripts start from a formed cluster: everyone joins node 0, then time runs a while.
        if h4 & 0x08 == 0 {
            for i in 1..<count { handle(i, .join(seeds: [addresses[0]], id: startJoin())) }
            settle(rounds: 16 + Int(h5 & 0x0f))
        }
    }

    func makeNode(_ i: Int, incarnation: UInt64) -> GossipInstance {
        do {
            return try GossipInstance(
                name: names[i], address: addresses[i], tags: ["role": "n"], settings: settings,
                seed: seed &+ UInt64(i) &* 0x9E37_79B9 &+ restarts[i], incarnation: incarnation)
        } catch {
            fatalError("fuzz settings rejected: \(error)")
        }
    }

    func nodeIndex(at address: Address) -> Int? {
        for i in addresses.indices where addresses[i] == address { return i }
        return nil
    }

    // MARK: one operation

    mutating func step() {
        let opByte = byte()
        guard let op = FuzzOp(rawValue: opByte % UInt8(FuzzOp.allCases.count)) else { return }
        switch op {
        case .fireEarliest: fireEarliest(node: nil)
        case .fireNode: fireEarliest(node: Int(byte()) % nodes.count)
        case .advance:
            let choice = byte()
            let d: Duration = [.milliseconds(1), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(31), .seconds(3600), .seconds(90000)][Int(choice & 7)]
            now = now + d
        case .deliver, .drop, .duplicate:
            guard !inFlight.isEmpty else { return }
            let k = Int(byte()) % inFlight.count
            let item = op == .duplicate ? inFlight[k] : inFlight.remove(at: k)
            if op == .drop { lose(item) } else { deliver(item) }
        case .settle: settle(rounds: 1 + Int(byte() & 15))
        case .settleLong: settle(rounds: 16 + Int(byte() & 31))
        case .codecDatagram:
            let target = Int(byte()) % nodes.count
            let from = forgedAddress(target)
            let raw = byte()
            let bytes = blob()
            // Usually the bytes are the payload after a plaintext header, so that mutation
            // works on messages; sometimes they are the whole packet.
            let packet: ArraySlice<UInt8> = raw & 1 == 0 ? ArraySlice([1, 0] + bytes) : bytes
            guard let messages = decoder.datagram(packet) else { return }
            codecAccepted += 1
            handle(target, .datagram(from: from, messages: messages))
        case .codecStream:
            let target = Int(byte()) % nodes.count
            let from = forgedAddress(target)
            let raw = byte()
            let bytes = blob()
            let frames: ArraySlice<UInt8> = raw & 1 == 0 ? ArraySlice(Self.framePrefix(bytes.count) + bytes) : bytes
            for item in decoder.stream(frames) {
                codecAccepted += 1
                injectStream(item, to: target, from: from, answering: raw & 2 != 0)
            }
        case .codecRoundTrip:
            // Forged messages or a forged push/pull, encoded by the codec, a few bytes changed,
            // decoded by the codec: what reaches the core is what the decoder accepted.
            let target = Int(byte()) % nodes.count
            let from = forgedAddress(target)
            let kind = byte()
            var edits: [(offset: Int, value: UInt8)] = []
            for _ in 0..<(kind >> 1 & 3) { edits.append((Int(u16()), byte())) }
            if kind & 1 == 0 {
                let n = 1 + Int(byte() % 8)
                var messages: [Message] = []
                for _ in 0..<n { messages.append(forgedMessage(target)) }
                guard let decoded = decoder.reencoded(messages, edits: edits) else { return }
                codecAccepted += 1
                handle(target, .datagram(from: from, messages: decoded))
            } else {
                let flags = byte()
                let pp = forgedPushPull(target, flags: flags)
                for item in decoder.reencoded(.pushPull(pp), edits: edits) {
                    codecAccepted += 1
                    injectStream(item, to: target, from: from, answering: flags & 0x40 != 0)
                }
            }
        case .forgedDatagram:
            let target = Int(byte()) % nodes.count
            let from = forgedAddress(target)
            let n = 1 + Int(byte() % 8)
            var messages: [Message] = []
            for _ in 0..<n { messages.append(forgedMessage(target)) }
            handle(target, .datagram(from: from, messages: messages))
        case .forgedPushPull:
            let target = Int(byte()) % nodes.count
            let from = forgedAddress(target)
            let flags = byte()
            let pp = forgedPushPull(target, flags: flags)
            injectStream(.stream(.pushPull(pp)), to: target, from: from, answering: flags & 0x40 != 0)
        case .answerRequest:
            // The peer at the other end of a pending request answers with anything it likes.
            guard let k = pendingRequestIndex(byte()) else { return }
            guard case .request(let origin, let to, _, let conversation) = inFlight.remove(at: k) else { return }
            let flags = byte()
            let pp = forgedPushPull(origin, flags: flags | 0x10)
            handle(origin, .stream(from: to, .pushPull(pp), conversation: conversation))
        case .join:
            let i = Int(byte()) % nodes.count
            let mask = byte()
            var seeds: [Address] = []
            for j in addresses.indices where mask & (1 << j) != 0 { seeds.append(addresses[j]) }
            if mask & 0x80 != 0 { seeds.append(fakeAddress(i, Int(mask >> 5 & 3))) }
            handle(i, .join(seeds: seeds, id: startJoin()))
        case .leave: handle(Int(byte()) % nodes.count, .leave)
        case .setTags:
            let i = Int(byte()) % nodes.count
            handle(i, .setTags(forgedTags(byte())))
        case .restart:
            // The process restarts from its snapshot: one incarnation above the last it used.
            let i = Int(byte()) % nodes.count
            let resume = min(nodes[i].currentIncarnation + 1, Limits.maxIncarnation)
            restarts[i] &+= 1
            nodes[i] = makeNode(i, incarnation: byte() & 1 == 0 ? resume : 0)
            // A node made without its snapshot starts its clocks over: it may deliver again.
            delivered[i].removeAll()
            timers[i].removeAll(keepingCapacity: true)
            // The old process's connections died with it.
            inFlight.removeAll { item in
                switch item {
                case .request(let from, _, _, _): from == i
                case .reply(let to, _, _, _): to == i
                case .datagram: false
                }
            }
            handle(i, .start)
            handle(i, .join(seeds: addresses.indices.filter { $0 != i }.map { addresses[$0] }, id: startJoin()))
        case .partition:
            let i = Int(byte()) % nodes.count
            partitioned[i].toggle()
        case .sniffedAck:
            let target = Int(byte()) % nodes.count
            let from = forgedAddress(target)
            let pick = byte()
            let seq = sniffed.isEmpty ? UInt32(pick) : sniffed[Int(pick) % sniffed.count]
            let m: Message = pick & 0x80 == 0 ? .ack(Ack(sequence: seq)) : .nack(Nack(sequence: seq))
            handle(target, .datagram(from: from, messages: [m]))
        case .fillTable:
            // Many distinct invented members at reachable addresses, alive, in one datagram:
            // the way to reach the table's bound through gossip rather than push/pull.
            let target = Int(byte()) % nodes.count
            let base = Int(byte())
            let n = 1 + Int(byte() % 16)
            var messages: [Message] = []
            for j in 0..<n {
                let k = base + j
                messages.append(.alive(Alive(incarnation: UInt64(k & 3), name: "f\(k)", address: fakeAddress(target, k), tags: Tags())))
            }
            handle(target, .datagram(from: forgedAddress(target), messages: messages))
        case .fireEvent:
            let i = Int(byte()) % nodes.count
            let b = byte()
            let payload = b & 0x80 != 0 ? [UInt8](repeating: b, count: 1_100) : Array(blob().prefix(64))
            handle(i, .fireEvent(name: b & 0x40 != 0 ? forgedName() : "e\(b & 3)", payload: payload, coalesce: b & 1 != 0))
        case .query:
            let i = Int(byte()) % nodes.count
            let b = byte()
            var request = QueryRequest(name: b & 0x40 != 0 ? forgedName() : "q\(b & 3)", payload: Array(blob().prefix(32)))
            request.filters = forgedFilters()
            request.wantsAcks = b & 1 != 0
            request.relayFactor = Int(b >> 1 & 7)
            let t = byte()
            request.timeout = t & 0x80 != 0 ? nil : [.milliseconds(1), .milliseconds(300), .seconds(5), .seconds(301)][Int(t & 3)]
            handle(i, .query(request, id: QueryID(raw: nextQuery)))
            nextQuery += 1
        case .respond:
            let i = Int(byte()) % nodes.count
            let b = byte()
            let responder =
                offered[i].isEmpty || b & 0x80 != 0
                ? QueryResponder(time: UInt64(b & 7), id: forgedSequence(), origin: forgedName())
                : offered[i][Int(b) % offered[i].count]
            handle(i, .respond(to: responder, payload: Array(blob().prefix(b & 0x40 != 0 ? 2_000 : 32))))
        case .writeRow:
            let i = Int(byte()) % nodes.count
            let b = byte()
            let value = b & 0x80 != 0 ? [UInt8](repeating: b, count: 1_100) : Array(blob().prefix(48))
            handle(i, .writeRow(table: b & 0x40 != 0 ? forgedName() : "t\(b & 3)", key: stateKey(b), value: value))
        case .deleteRow:
            let i = Int(byte()) % nodes.count
            let b = byte()
            handle(i, .deleteRow(table: b & 0x40 != 0 ? forgedName() : "t\(b & 3)", key: stateKey(b)))
        case .forgedStateRows:
            // Rows of real owners (this node included) and invented ones, at versions up to and
            // past the wire's bound, some tombstones carrying values, and announcements.
            let target = Int(byte()) % nodes.count
            let n = 1 + Int(byte() % 8)
            var messages: [Message] = []
            for _ in 0..<n {
                let b = byte()
                let owner = b & 0x80 == 0 ? names[Int(b) % names.count] : forgedName()
                let v = byte()
                let version: UInt64 = [0, 1, UInt64(v), 1 << 20, Limits.maxIncarnation - 1, Limits.maxIncarnation, .max][Int(v) % 7]
                let deleted = b & 0x40 != 0
                let value = deleted && b & 0x20 == 0 ? [] : Array(blob().prefix(40))
                // Some are announcements of an owner's newest version instead (type 14).
                if b & 0x10 != 0 {
                    messages.append(.stateNewest(StateNewest(owner: owner, version: version)))
                    continue
                }
                messages.append(.stateRow(StateRow(table: "t\(b & 3)", owner: owner, key: stateKey(v), version: version, deleted: deleted, value: value)))
            }
            let from = byte() & 1 == 0 ? addresses[(target + 1) % addresses.count] : forgedAddress(target)
            handle(target, .datagram(from: from, messages: messages))
        }
    }

    /// A row key: a few shared ones, so that writes, deletes and forged rows meet; sometimes one
    /// the core must refuse (empty, too long, a control character).
    mutating func stateKey(_ b: UInt8) -> String {
        switch b >> 2 & 7 {
        case 0: ""
        case 1: String(repeating: "k", count: Limits.maxStateKeyLength + 1)
        case 2: "bad\nkey"
        default: "k\(b >> 2 & 3)"
        }
    }

    mutating func forgedFilters() -> [QueryFilter] {
        let b = byte()
        switch b % 6 {
        case 0, 1: return []
        case 2: return [.nodes([forgedName(), forgedName()])]
        case 3: return [.tag(key: "role", pattern: (try? FilterPattern(["a", "b|c", "[a-z]+", "(a*)*b"][Int(b >> 4 & 3)]))!)]
        case 4: return Array(repeating: .nodes([forgedName()]), count: Int(b >> 3))
        default: return [.tag(key: forgedName(), pattern: (try? FilterPattern(".*"))!), .nodes(names)]
        }
    }

    mutating func forgedTime() -> UInt64 {
        let b = byte()
        switch b % 8 {
        case 0, 1, 2: return UInt64(b >> 3)
        case 3: return LamportClock.ceiling - 1
        case 4: return LamportClock.ceiling
        case 5: return .max
        default: return u64()
        }
    }

    static func framePrefix(_ length: Int) -> [UInt8] {
        let n = UInt32(truncatingIfNeeded: length)
        return [1, 0, UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
    }

    /// Attacker stream input: a request on a new inbound connection, or (when `answering` and a
    /// request of the target is pending) the answer on the target's own connection.
    mutating func injectStream(_ item: AttackerStreamItem, to target: Int, from: Address, answering: Bool) {
        switch item {
        case .message(let m):
            // A datagram message sent over a stream is handled as a datagram from that peer.
            handle(target, .datagram(from: from, messages: [m]))
        case .stream(let message):
            if answering, let k = inFlight.firstIndex(where: { if case .request(target, _, _, _) = $0 { true } else { false } }),
                case .request(_, _, _, let conversation) = inFlight.remove(at: k)
            {
                handle(target, .stream(from: from, message, conversation: conversation))
            } else {
                let conversation = ConversationID.inbound(nextInbound)
                nextInbound += 1
                handle(target, .stream(from: from, message, conversation: conversation), inbound: conversation)
            }
        }
    }

    func pendingRequestIndex(_ pick: UInt8) -> Int? {
        var requests = 0
        for item in inFlight { if case .request = item { requests += 1 } }
        guard requests > 0 else { return nil }
        var n = Int(pick) % requests
        for (k, item) in inFlight.enumerated() {
            guard case .request = item else { continue }
            if n == 0 { return k }
            n -= 1
        }
        return nil
    }

    // MARK: the network

    mutating func fireEarliest(node: Int?) {
        var best: (node: Int, k: Int)?
        for i in timers.indices where node == nil || node == i {
            for k in timers[i].indices {
                if let b = best, timers[b.node][b.k].at <= timers[i][k].at { continue }
                best = (i, k)
            }
        }
        guard let best else { return }
        let t = timers[best.node].remove(at: best.k)
        if t.at > now { now = t.at }
        handle(best.node, .timer(t.id))
    }

    /// Lets the cluster run: delivers what is in flight, oldest first, else fires the earliest timer.
    mutating func settle(rounds: Int) {
        for _ in 0..<rounds {
            if steps >= Self.maxSteps { return }
            if !inFlight.isEmpty {
                deliver(inFlight.removeFirst())
            } else {
                fireEarliest(node: nil)
            }
        }
    }

    mutating func deliver(_ item: InFlight) {
        switch item {
        case .datagram(let from, let to, let messages):
            guard let j = nodeIndex(at: to), !partitioned[j], !partitioned[from] else { return }
            handle(j, .datagram(from: addresses[from], messages: messages))
        case .request(let from, let to, let message, let conversation):
            guard let j = nodeIndex(at: to), !partitioned[j], !partitioned[from] else { return lose(item) }
            let inbound = ConversationID.inbound(nextInbound)
            nextInbound += 1
            let out = handle(j, .stream(from: addresses[from], message, conversation: inbound), inbound: inbound)
            // The answer goes back on the same connection; no answer closes it.
            var answered = false
            for o in out {
                if case .reply(_, let reply) = o {
                    answered = true
                    enqueue(.reply(to: from, from: to, reply, conversation: conversation))
                }
            }
            if !answered { handle(from, .streamFailed(conversation: conversation)) }
        case .reply(let to, let from, let message, let conversation):
            if partitioned[to] { return lose(item) }
            handle(to, .stream(from: from, message, conversation: conversation))
        }
    }

    /// A lost stream item ends its conversation; a lost datagram is just gone.
    mutating func lose(_ item: InFlight) {
        switch item {
        case .datagram: break
        case .request(let from, _, _, let conversation): handle(from, .streamFailed(conversation: conversation))
        case .reply(let to, _, _, let conversation): handle(to, .streamFailed(conversation: conversation))
        }
    }

    mutating func enqueue(_ item: InFlight) {
        if inFlight.count >= Self.maxInFlight { lose(inFlight.removeFirst()) }
        inFlight.append(item)
    }

    /// Feeds one input to node `i`, checks every invariant, and routes the outputs.
    /// `inbound` is the conversation of an inbound request being delivered: the only one a
    /// `.reply` may answer.
    @discardableResult
    mutating func handle(_ i: Int, _ input: Input, inbound: ConversationID? = nil) -> [Output] {
        steps += 1
        let out = nodes[i].handle(input, now: now)
        check(i, out, inbound: inbound)
        for o in out {
            switch o {
            case .datagram(let to, let messages):
                for m in messages { if case .ping(let p) = m { sniff(p.sequence) } }
                enqueue(.datagram(from: i, to: to, messages: messages))
            case .stream(let to, let message, let conversation):
                enqueue(.request(from: i, to: to, message, conversation: conversation))
            case .timer(let id, let at):
                if timers[i].count < 512 { timers[i].append(Timer(id: id, at: at)) }
            case .reply, .event, .joinCompleted, .leaveCompleted, .refused, .nameConflict, .userEvent, .eventFired, .query,
                .queryAck, .queryResponse, .queryFinished, .requestRefused, .rowChanged:
                break
            }
        }
        return out
    }

    mutating func startJoin() -> JoinID {
        joinsStarted += 1
        openJoins.insert(JoinID(raw: joinsStarted))
        return JoinID(raw: joinsStarted)
    }

    mutating func sniff(_ sequence: UInt32) {
        if sniffed.count >= 16 { sniffed.removeFirst() }
        sniffed.append(sequence)
    }

    // MARK: invariants

    mutating func check(_ i: Int, _ out: [Output], inbound: ConversationID?) {
        let node = nodes[i]
        let budget = node.settings.payloadBudget
        for o in out {
            switch o {
            case .datagram(let to, let messages):
                var size = 0
                for m in messages { size += m.encodedSize }
                if size > budget { violation(i, "datagram of \(size) bytes over the payload budget \(budget): \(messages)") }
                if messages.isEmpty { violation(i, "empty datagram to \(to)") }
                if !node.address.canReach(to) { violation(i, "datagram to unreachable address \(to)") }
            case .stream(let to, let message, let conversation):
                if conversation.isInbound { violation(i, "own conversation with an inbound id \(conversation)") }
                if case .pushPull(let pp) = message, !pp.join, !node.address.canReach(to) {
                    violation(i, "push/pull to unreachable address \(to)")
                }
            case .reply(let conversation, _):
                if conversation != inbound { violation(i, "reply on \(conversation), not the request's connection \(String(describing: inbound))") }
            case .timer(let id, let at):
                // A deadline may lie in the past (a confirmed suspicion's shortened timeout fires at
                // once), but never before time began nor absurdly far ahead: either means a
                // duration overflowed or wrapped. With these settings no timer is a day long.
                if at.nanoseconds < 0 || at - now > .seconds(86_400) { violation(i, "timer \(id) armed at \(at)") }
            case .joinCompleted(let outcome):
                if openJoins.remove(outcome.id) == nil { violation(i, "\(outcome.id) completed twice or never started") }
            case .userEvent(let e):
                if !delivered[i].insert("\(e.origin)@\(e.time)").inserted { violation(i, "user event \(e.origin)@\(e.time) delivered twice") }
            case .query(let q):
                if offered[i].count >= 16 { offered[i].removeFirst() }
                offered[i].append(q.responder)
            case .event, .leaveCompleted, .refused, .nameConflict, .eventFired, .queryAck, .queryResponse, .queryFinished,
                .requestRefused, .rowChanged:
                break
            }
        }
        guard let me = node.member(named: node.name) else { violation(i, "own entry missing") }
        if me.address != node.address { violation(i, "own entry at \(me.address)") }
        if me.incarnation > Limits.maxIncarnation { violation(i, "own incarnation \(me.incarnation) above the ceiling") }
        if me.incarnation != node.currentIncarnation { violation(i, "own entry at \(me.incarnation), node at \(node.currentIncarnation)") }
        if me.status != (node.isLeaving ? .left : .alive) { violation(i, "own entry \(me.status), leaving: \(node.isLeaving)") }
        let members = node.knownMembers
        if members.count > node.settings.maxMembers { violation(i, "\(members.count) members, bound \(node.settings.maxMembers)") }
        var live = 0
        for m in members {
            if m.status <= .suspect { live += 1 }
            if !validNames.contains(m.name) {
                // Checked once per name and script: the check is costly under coverage tracing.
                if !Limits.isValidName(m.name) { violation(i, "invalid member name \(Limits.escaped(m.name))") }
                validNames.insert(m.name)
            }
            if m.incarnation > Limits.maxIncarnation { violation(i, "member \(m.name) at incarnation \(m.incarnation)") }
            if m.name != node.name, !node.address.canReach(m.address) { violation(i, "member \(m.name) at unreachable \(m.address)") }
            if node.member(named: m.name) != m { violation(i, "member \(m.name) not found under its own name") }
        }
        if live != node.liveCount { violation(i, "liveCount \(node.liveCount), alive+suspect members \(live)") }
    }


    func violation(_ i: Int, _ what: String) -> Never {
        fatalError("core-fuzz invariant broken at node \(i) (\(Limits.escaped(nodes[i].name))), step \(steps), t=\(now): \(what)")
    }

    // MARK: forged input

    /// A datagram source: a node's address (spoofed), an invented peer, or an unusable address.
    mutating func forgedAddress(_ target: Int) -> Address {
        let b = byte()
        switch b % 4 {
        case 0, 1: return addresses[Int(b >> 2) % addresses.count]
        case 2: return fakeAddress(target, Int(b >> 2))
        default: return address(b >> 2)
        }
    }

    /// A reachable address of no node, in the target's family.
    func fakeAddress(_ target: Int, _ k: Int) -> Address {
        if addresses[target].family == .v6 {
            return Address(ipv6High: 0xFD00_0000_0000_0000, low: 0x100 + UInt64(k & 0xff), port: 7946)
        }
        if addresses[target].isLoopback { return Address(ipv4: 0x7F00_0100 + UInt32(k & 0xff), port: 7946) }
        return Address(ipv4: 0x0A00_0100 + UInt32(k & 0xff), port: 7946)
    }

    /// Any address, the awkward ones often.
    mutating func address(_ b: UInt8) -> Address {
        switch b % 16 {
        case 0, 1, 2, 3: return addresses[Int(b >> 4) % addresses.count]
        case 4, 5: return fakeAddress(Int(b >> 4) % addresses.count, Int(byte()))
        case 6: return Address(ipv4: 0x0A00_0001, port: 0)
        case 7: return Address(ipv4: 0, port: 7946)
        case 8: return Address(ipv4: 0xFFFF_FFFF, port: 7946)
        case 9: return Address(ipv4: 0xE000_0001, port: 7946)
        case 10: return Address(ipv4: 0x7F00_0001, port: 7946)
        case 11: return Address(ipv6High: 0xFD00_0000_0000_0000, low: 0x99, port: 7946)
        case 12: return Address(ipv6High: 0, low: 0xFFFF_0A00_0001, port: 7946)
        case 13: return Address(ipv6High: 0xFE80_0000_0000_0000, low: 1, port: 7946)
        case 14: return Address(ipv4: u32(), port: u16())
        default: return Address(ipv6High: u64(), low: u64(), port: u16())
        }
    }

    mutating func forgedName() -> String {
        let b = byte()
        switch b % 16 {
        case 0, 1, 2, 3, 4, 5, 6, 7: return names[Int(b >> 4) % names.count]
        case 8, 9, 10, 11: return "x\(b >> 4 & 3)"
        case 12: return "f\(byte())"
        case 13:
            switch byte() % 6 {
            case 0: return ""
            case 1: return "bad\nname"
            case 2: return String(repeating: "y", count: Limits.maxNameLength + 1)
            case 3: return "\u{202E}evil"
            case 4: return "nul\u{0}"
            default: return "tab\there"
            }
        case 14: return String(repeating: "z", count: Limits.maxNameLength - 1) + "\(b >> 4 & 3)"
        default: return String(decoding: blob().prefix(Limits.maxNameLength + 8), as: UTF8.self)
        }
    }

    /// Incarnations near everything that matters: zero, what the target holds, the ceiling, the top.
    mutating func forgedIncarnation(_ target: Int, of name: String) -> UInt64 {
        let b = byte()
        switch b % 12 {
        case 0, 1: return UInt64(b >> 4)
        case 2, 3, 4: return (nodes[target].member(named: name)?.incarnation ?? 0) &+ UInt64(b >> 4 & 3)
        case 5: return Limits.maxIncarnation - 2
        case 6: return Limits.maxIncarnation - 1
        case 7: return Limits.maxIncarnation
        case 8: return Limits.maxIncarnation + 1
        case 9: return .max
        case 10: return .max - 1
        default: return u64()
        }
    }

    mutating func forgedTags(_ b: UInt8) -> Tags {
        switch b % 8 {
        case 0: return Tags()
        case 1: return ["role": "a"]
        case 2: return ["role": "b", "dc": "x"]
        case 3: return ["bad\nkey": "v"]
        case 4: return ["big": String(repeating: "v", count: 500), "big2": String(repeating: "w", count: 500)]
        case 5: return ["": "empty key"]
        case 6: return ["k": String(repeating: "q", count: 200)]
        default:
            let k = String(decoding: blob().prefix(32), as: UTF8.self)
            let v = String(decoding: blob().prefix(64), as: UTF8.self)
            return [k: v]
        }
    }

    mutating func forgedSequence() -> UInt32 {
        let b = byte()
        if b & 1 == 0, !sniffed.isEmpty { return sniffed[Int(b >> 1) % sniffed.count] }
        return u32()
    }

    mutating func forgedMessage(_ target: Int) -> Message {
        switch byte() % 12 {
        case 0:
            return .ping(Ping(sequence: forgedSequence(), target: forgedName(), source: forgedName(), sourceAddress: address(byte())))
        case 1:
            let seq = forgedSequence()
            let t = forgedName()
            return .indirectPing(
                IndirectPing(
                    sequence: seq, target: t, targetAddress: address(byte()), requester: forgedName(),
                    requesterAddress: address(byte()), wantsNack: byte() & 1 == 0))
        case 2: return .ack(Ack(sequence: forgedSequence()))
        case 3: return .nack(Nack(sequence: forgedSequence()))
        case 8:
            let b = byte()
            return .userEvent(
                UserEvent(time: forgedTime(), origin: forgedName(), name: "e\(b & 3)", payload: Array(blob().prefix(40)), coalesce: b & 1 != 0))
        case 9:
            let b = byte()
            return .query(
                QueryMessage(
                    time: forgedTime(), id: forgedSequence(), origin: forgedName(), originAddress: address(byte()),
                    wantsAck: b & 1 != 0, relayFactor: [0, 1, 3, 5, 6, 255][Int(b >> 1) % 6],
                    timeoutMilliseconds: [0, 1, 500, 300_001, UInt64.max][Int(b >> 4) % 5], filters: forgedFilters(),
                    name: "q\(b & 3)", payload: Array(blob().prefix(40))))
        case 10, 11:
            let r = QueryResponse(
                time: forgedTime(), id: forgedSequence(), origin: forgedName(), from: forgedName(), isAck: byte() & 1 != 0,
                payload: Array(blob().prefix(40)))
            return byte() & 1 == 0 ? .queryResponse(r) : .relay(QueryRelay(response: r))
        case 4, 5:
            let name = forgedName()
            let inc = forgedIncarnation(target, of: name)
            return .alive(Alive(incarnation: inc, name: name, address: address(byte()), tags: forgedTags(byte())))
        case 6:
            let name = forgedName()
            return .suspect(Suspect(incarnation: forgedIncarnation(target, of: name), name: name, from: forgedName()))
        default:
            let name = forgedName()
            let inc = forgedIncarnation(target, of: name)
            return .dead(Dead(incarnation: inc, name: name, from: forgedName(), left: byte() & 1 == 0))
        }
    }

    /// A push/pull: a few hand-picked entries, or a bulk of invented members (flags & 0x20).
    mutating func forgedPushPull(_ target: Int, flags: UInt8) -> PushPull {
        var members: [MemberState] = []
        if flags & 0x20 != 0 {
            let base = Int(byte())
            let n = Int(byte() % 80)
            let status = MemberStatus(rawValue: flags & 3) ?? .alive
            for j in 0..<n {
                let k = base + j
                members.append(
                    MemberState(name: "f\(k)", address: fakeAddress(target, k), incarnation: UInt64(k % 3), status: status, tags: Tags()))
            }
        } else {
            let n = Int(flags & 7)
            for _ in 0..<n {
                let name = forgedName()
                let inc = forgedIncarnation(target, of: name)
                let b = byte()
                members.append(
                    MemberState(
                        name: name, address: address(byte()), incarnation: inc, status: MemberStatus(rawValue: b & 3) ?? .alive,
                        tags: forgedTags(b >> 2)))
            }
        }
        let sender = forgedName()
        return PushPull(join: flags & 0x08 != 0, isReply: flags & 0x10 != 0, sender: sender, senderAddress: address(byte()), members: members)
    }
}
