import GossipCore

/// Random but valid messages for property tests, from a seeded generator so failures replay.
struct RandomMessages {
    var rng: SeededGenerator

    init(seed: UInt64) { rng = SeededGenerator(seed: seed) }

    private static let alphabet: [Character] = Array("abcdefghijklmnopqrstuvwxyz0123456789-._") + [
        "é", "ß", "日", "本", "🙂", "Ω",
    ]

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func bool() -> Bool { Bool.random(using: &rng) }

    /// A varint-worthy number: small most of the time, sometimes near the top of its width.
    mutating func u64() -> UInt64 {
        switch int(0...3) {
        case 0: UInt64(int(0...127))
        case 1: UInt64(int(128...20_000))
        case 2: UInt64.random(in: 0...UInt64(UInt32.max), using: &rng)
        default: UInt64.random(in: 0...UInt64.max, using: &rng)
        }
    }

    /// An incarnation the decoder accepts: up to `Limits.maxIncarnation`, sometimes right at it.
    mutating func incarnation() -> UInt64 {
        int(0...7) == 0 ? Limits.maxIncarnation : min(u64(), Limits.maxIncarnation)
    }

    mutating func u32() -> UInt32 { UInt32(truncatingIfNeeded: bool() ? u64() : u64() & 0xffff_ffff) }

    /// At most `maxBytes` bytes of UTF-8.
    mutating func string(maxBytes: Int) -> String {
        let target = int(0...maxBytes)
        var s = ""
        while true {
            let c = Self.alphabet[int(0...(Self.alphabet.count - 1))]
            if s.utf8.count + String(c).utf8.count > target { return s }
            s.append(c)
        }
    }

    mutating func name() -> String {
        switch int(0...4) {
        case 0: string(maxBytes: Member.maxNameLength)
        case 1: String(repeating: "n", count: Member.maxNameLength)
        default: "node-\(int(0...9999))"
        }
    }

    mutating func address() -> Address {
        if bool() {
            Address(ipv4: UInt32.random(in: 0...UInt32.max, using: &rng), port: UInt16.random(in: 0...65535, using: &rng))
        } else {
            Address(ipv6High: rng.next(), low: rng.next(), port: UInt16.random(in: 0...65535, using: &rng))
        }
    }

    mutating func tags() -> Tags {
        var t = Tags()
        for _ in 0..<int(0...4) {
            t[string(maxBytes: 16)] = string(maxBytes: 40)
        }
        return t
    }

    /// A Lamport time the decoder accepts: below `LamportClock.ceiling`.
    mutating func lamport() -> UInt64 { min(u64(), LamportClock.ceiling - 1) }

    mutating func payload() -> [UInt8] { (0..<int(0...64)).map { _ in UInt8(truncatingIfNeeded: int(0...255)) } }

    mutating func userEvent() -> UserEvent {
        UserEvent(time: lamport(), origin: name(), name: name(), payload: payload(), coalesce: bool())
    }

    mutating func filters() -> [QueryFilter] {
        (0..<int(0...3)).map { _ in
            bool()
                ? .nodes((0..<int(0...3)).map { _ in name() })
                : .tag(key: string(maxBytes: 16), pattern: try! FilterPattern(["web.*", "[a-z]+-\\d{1,3}", "x|y", ""][int(0...3)]))
        }
    }

    mutating func queryResponse() -> QueryResponse {
        QueryResponse(time: lamport(), id: u32(), origin: name(), from: name(), isAck: bool(), payload: payload())
    }

    /// A row the decoder accepts: any key up to `Limits.maxStateKeyLength`, a tombstone without a value.
    mutating func stateRow() -> StateRow {
        let deleted = bool()
        return StateRow(
            table: name(), owner: name(), key: string(maxBytes: Limits.maxStateKeyLength), version: incarnation(),
            deleted: deleted, value: deleted ? [] : payload())
    }

    mutating func message() -> Message {
        switch int(0...12) {
        case 12: .stateNewest(StateNewest(owner: name(), version: incarnation()))
        case 11: .stateRow(stateRow())
        case 7: .userEvent(userEvent())
        case 8:
            .query(
                QueryMessage(
                    time: lamport(), id: u32(), origin: name(), originAddress: address(), wantsAck: bool(),
                    relayFactor: UInt8(int(0...255)), timeoutMilliseconds: u64(), filters: filters(), name: name(),
                    payload: payload()))
        case 9: .queryResponse(queryResponse())
        case 10: .relay(QueryRelay(response: queryResponse()))
        case 0: .ping(Ping(sequence: u32(), target: name(), source: name(), sourceAddress: address()))
        case 1:
            .indirectPing(
                IndirectPing(
                    sequence: u32(), target: name(), targetAddress: address(), requester: name(),
                    requesterAddress: address(), wantsNack: bool()))
        case 2: .ack(Ack(sequence: u32()))
        case 3: .nack(Nack(sequence: u32()))
        case 4: .alive(Alive(incarnation: incarnation(), name: name(), address: address(), tags: tags()))
        case 5: .suspect(Suspect(incarnation: incarnation(), name: name(), from: name()))
        default: .dead(Dead(incarnation: incarnation(), name: name(), from: name(), left: bool()))
        }
    }

    mutating func memberState() -> MemberState {
        let status: [MemberStatus] = [.alive, .suspect, .failed, .left]
        return MemberState(
            name: name(), address: address(), incarnation: incarnation(), status: status[int(0...3)], tags: tags())
    }

    mutating func pushPull(maxMembers: Int = 40) -> PushPull {
        var p = PushPull(
            join: bool(), isReply: bool(), sender: name(), senderAddress: address(),
            members: (0..<int(0...maxMembers)).map { _ in memberState() })
        if bool() {
            p.sections.append(
                .events(EventsSection(eventClock: lamport(), queryClock: lamport(), events: (0..<int(0...5)).map { _ in userEvent() })))
        }
        if bool() {
            p.sections.append(.stateDigest((0..<int(0...8)).map { _ in OwnerDigest(owner: name(), hash: u64(), newest: UInt64(int(0...1_000_000))) }))
            p.sections.append(.stateRows((0..<int(0...5)).map { _ in stateRow() }))
        }
        return p
    }
}

extension Collection<UInt8> {
    var hex: String {
        let digits = Array("0123456789abcdef")
        return String(flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xf)]] })
    }
}

func bytes(hex: String) -> [UInt8] {
    let chars = Array(hex.filter { !$0.isWhitespace })
    return stride(from: 0, to: chars.count, by: 2).map { UInt8(String(chars[$0...$0 + 1]), radix: 16) ?? 0 }
}
