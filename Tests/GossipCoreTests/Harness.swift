import GossipCore
import Testing

/// Drives one `GossipInstance` by hand: feeds inputs at chosen times, keeps the timers it arms,
/// and collects what it sends and reports.
struct Harness {
    var node: GossipInstance
    var now = Instant.zero
    var timers: [(id: TimerID, at: Instant)] = []
    var outputs: [Output] = []

    /// `confirmed`: the members count as heard directly (real members, probed in the round);
    /// false leaves them vouched for only by others, as invented ones would be.
    init(name: String = "a", members: Int = 0, settings: Settings = Settings(), seed: UInt64 = 7, confirmed: Bool = true)
        throws
    {
        node = try GossipInstance(name: name, address: Self.address(name), settings: settings, seed: seed)
        feed(.start)
        for i in 0..<members {
            learn(Self.peer(i))
            if confirmed { node.markHeardDirectly(Self.peer(i)) }
        }
        outputs.removeAll()
    }

    static func address(_ name: String) -> Address {
        Address(ipv4: 0x7F00_0000 | UInt32(truncatingIfNeeded: name.hashValueStable), port: 7946)
    }

    static func peer(_ i: Int) -> String { "peer-\(i)" }

    mutating func learn(_ name: String, incarnation: UInt64 = 0) {
        receive(.alive(Alive(incarnation: incarnation, name: name, address: Self.address(name), tags: Tags())), from: "x")
    }

    @discardableResult
    mutating func feed(_ input: Input) -> [Output] {
        let out = node.handle(input, now: now)
        for o in out {
            if case .timer(let id, let at) = o { timers.append((id, at)) }
        }
        outputs += out
        return out
    }

    @discardableResult
    mutating func receive(_ messages: Message..., from sender: String) -> [Output] {
        feed(.datagram(from: Self.address(sender), messages: messages))
    }

    /// Advances time to the earliest armed timer of `kind` and fires it. A test that fires a
    /// timer nobody armed checks nothing, so that is recorded as an issue.
    @discardableResult
    mutating func fire(_ kind: TimerKind, sourceLocation: SourceLocation = #_sourceLocation) -> [Output] {
        guard let k = timers.indices.filter({ timers[$0].id.kind == kind }).min(by: { timers[$0].at < timers[$1].at }) else {
            Issue.record("no \(kind) timer is armed", sourceLocation: sourceLocation)
            return []
        }
        let t = timers.remove(at: k)
        now = max(now, t.at)
        return feed(.timer(t.id))
    }

    /// The deadline of the timer of `kind` armed last.
    func deadline(of kind: TimerKind) -> Instant? {
        timers.last { $0.id.kind == kind }?.at
    }

    var sent: [(to: Address, messages: [Message])] {
        outputs.compactMap { if case .datagram(let to, let m) = $0 { (to, m) } else { nil } }
    }

    var streams: [(to: Address, message: StreamMessage, conversation: ConversationID)] {
        outputs.compactMap { if case .stream(let to, let m, let c) = $0 { (to, m, c) } else { nil } }
    }

    var replies: [(conversation: ConversationID, message: StreamMessage)] {
        outputs.compactMap { if case .reply(let c, let m) = $0 { (c, m) } else { nil } }
    }

    var joinOutcomes: [JoinOutcome] {
        outputs.compactMap { if case .joinCompleted(let o) = $0 { o } else { nil } }
    }

    var refusals: [Refusal] {
        outputs.compactMap { if case .refused(let r, _) = $0 { r } else { nil } }
    }

    var events: [MembershipEvent] {
        outputs.compactMap { if case .event(let e) = $0 { e } else { nil } }
    }
}

extension Message {
    /// The ping this message is, or nil; for `#require` in tests.
    var ping: Ping? { if case .ping(let p) = self { p } else { nil } }
    var alive: Alive? { if case .alive(let a) = self { a } else { nil } }
}

extension String {
    /// A hash that does not change between runs (Swift's `hashValue` is seeded per process).
    var hashValueStable: UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h & 0x00ff_ffff
    }
}

func abs(_ d: Duration) -> Duration { d < .zero ? .zero - d : d }
