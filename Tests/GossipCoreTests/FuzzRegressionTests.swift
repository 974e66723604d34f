import GossipCore
import Testing

/// What the core fuzzer (Fuzz/core-fuzz, `scripts/fuzz-core.sh`, Docs/FUZZING.md) found, kept
/// as vectors and replayed through the very driver the fuzzer runs: `FuzzDriver.swift` in this
/// target is a symbolic link to `Fuzz/core-fuzz/FuzzDriver.swift`. The driver checks every
/// invariant after each input a node handles and traps (`fatalError`) on a violation, so a
/// vector that passes here held every invariant.
///
/// The tests have no codec (this target depends on GossipCore only), so the driver runs with
/// `NoDecoder` and the vectors below use only forged core values, never the codec operations;
/// a finding made through the codec path is kept as the equivalent forged script.
@Suite struct FuzzRegressionTests {
    /// Operation codes, as the driver numbers them.
    static func op(_ o: FuzzOp) -> UInt8 { o.rawValue }

    // MARK: F1: a Lifeguard buddy probe exceeds the payload budget

    /// F1, as the fuzzer found it (minimised by hand to the forged-only form): 3 nodes with
    /// 128-byte names, a 307-byte payload budget (the smallest `Settings.validate()` allows),
    /// Lifeguard on; node 1 is cut off, the others suspect it, and their next probe of it
    /// carries the buddy `suspect` next to the ping: 539 bytes in a 307-byte budget.
    static let buddyProbeOverBudget: [UInt8] =
        [0, 0, 0, 0, 4, 15] + [op(.partition), 1] + [UInt8](repeating: 0, count: 6).flatMap { _ in [op(.settleLong), 31] }

    /// F1 as libFuzzer saved it (core-crash-cf4349a8…, 162 bytes; 3 nodes with long names, a
    /// 420-byte payload, no initial join, then restarts, forged datagrams, joins and timers),
    /// under the driver of its day, which had 20 operations: the codec round trip added since
    /// shifted what its operation bytes mean (`byte % 21`), so today it is one more script
    /// that must hold every invariant, and `buddyProbeOverBudget` is F1's vector.
    static let buddyProbeAsFound: [UInt8] =
        [0x00, 0xfd, 0x91, 0x9b, 0x3c, 0x0f] + Array(repeating: 0xff, count: 7) + [0x09, 0xc0, 0xfd, 0x91, 0xce, 0xfd]
        + Array(repeating: 0x00, count: 48) + [0xc0, 0xfd, 0x91, 0xce, 0xfd] + Array(repeating: 0x00, count: 86)
        + [0x91, 0xcf, 0x06, 0x1f]

    /// Fixed in `Probing.swift` `probe(_:_:period:)`: the buddy suspicion rides along only if
    /// ping and suspicion fit the budget together. The driver traps on any datagram over the
    /// budget, so replaying the vectors is the check.
    @Test(arguments: [buddyProbeAsFound, buddyProbeOverBudget])
    func buddyProbeVectorsStayWithinTheBudget(_ script: [UInt8]) {
        let d = CoreFuzzDriver.run(script, decoder: NoDecoder())
        #expect(d.steps > 20)
    }

    /// F1 at the level of one node, without the driver: the datagram of a probe of a suspect.
    @Test func buddyProbeOfOneNodeFitsThePayloadBudget() throws {
        var settings = Settings()
        settings.packetBudget = Message.largestFixedSize
        let me = String(repeating: "a", count: Limits.maxNameLength)
        let peer = String(repeating: "b", count: Limits.maxNameLength)
        var h = try Harness(name: me, settings: settings)
        h.learn(peer)
        h.receive(.suspect(Suspect(incarnation: 0, name: peer, from: "c")), from: "c")
        h.outputs.removeAll()
        for _ in 0..<4 { h.fire(.failureDetector(.probe)) }
        let probes = h.sent.filter { $0.messages.contains { if case .ping = $0 { true } else { false } } }
        #expect(!probes.isEmpty)
        for p in probes {
            let size = p.messages.reduce(0) { $0 + $1.encodedSize }
            #expect(size <= settings.payloadBudget)
        }
    }

    // MARK: scripts that must keep passing

    /// Vectors that exercised a path once (a false alarm of the driver, or a seed worth
    /// keeping), each replayed in full. Names say what they do.
    static let vectors: [(String, [UInt8])] = [
        // A confirmed suspicion re-armed with a deadline already past: legitimate (the timer
        // fires at once). The driver's first timer invariant wrongly called it a violation.
        ("suspicion re-armed in the past", [0, 2, 0, 0, 0, 20] + [op(.partition), 2] + Array(repeating: op(.fireEarliest), count: 60)),
        // Forged alive, suspect and dead at and around the incarnation ceiling, about a node
        // itself and about others, then time runs.
        ("incarnations at the ceiling", [0, 2, 0, 0, 0, 20]
            // alive(n1 @ UInt64.max) to node 1, from node 0's address
            + [op(.forgedDatagram), 1, 0, 0, 4, 0x10, 9, 0x10, 0]
            // suspect(n1 @ ceiling - 1, from n0) to node 1
            + [op(.forgedDatagram), 1, 0, 0, 6, 0x10, 6, 0]
            // dead(n2 @ ceiling, from n0) to node 0
            + [op(.forgedDatagram), 0, 0, 0, 7, 0x20, 7, 0, 1]
            + [op(.settleLong), 31, op(.settleLong), 31]),
        // A table flood through gossip and push/pull with a small member bound.
        ("table flood", [0, 2, 0x06, 0, 0, 20]
            + [op(.fillTable), 0, 0, 15, 2, op(.fillTable), 0, 16, 15, 2]
            + [op(.forgedPushPull), 1, 2, 0x20, 40, 79, 8, 2]
            + [op(.forgedPushPull), 2, 2, 0x22, 120, 60, 8, 2]
            + [op(.settleLong), 31]),
        // Leave, restart at the same and at a reset incarnation, partitions, joins.
        ("churn", [1, 2, 0x50, 0, 0, 20]
            + [op(.leave), 1, op(.settleLong), 10, op(.restart), 1, 0, op(.settleLong), 10]
            + [op(.restart), 2, 1, op(.partition), 3, op(.settleLong), 31, op(.partition), 3]
            + [op(.join), 3, 0x07, op(.settleLong), 31]),
        // F4 as libFuzzer saved it (core-crash-7dd4d806…, 174 bytes): node 0 on IPv6, the
        // others on IPv4, replicated-state rows written and forged; node 0's join to an IPv4
        // seed was answered with a digest, and node 0 sent the rows the seed lacked in a
        // follow-up push/pull, not a join, to an address it cannot reach. Fixed in
        // `StateFlow.swift` `followUp(_:to:)`.
        ("F4: no state follow-up to an unreachable seed", [
            0x00, 0x02, 0xfe, 0xff, 0xff, 0x7b, 0x7b, 0x7b, 0x7b, 0x7b, 0x7b, 0x06, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x7b, 0xd5, 0xd5, 0xd5, 0xd5, 0x00, 0x00, 0xd5, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0xda, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd5, 0xd5, 0xd5, 0xd5, 0x95,
            0xd5, 0xd5, 0xd5, 0xd5, 0x7b, 0x00, 0x02, 0x1c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x2e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x33, 0xc6,
            0xfb, 0xcd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x13, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0xd5, 0xd5, 0xd5, 0xd5, 0xd5, 0xd5, 0xd5, 0xd5, 0xd5, 0x7b, 0x7b,
            0x00, 0x9a, 0x02, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7b,
        ]),
    ]

    @Test(arguments: 0..<vectors.count)
    func vectorReplaysWithoutBreakingAnInvariant(_ k: Int) {
        let d = CoreFuzzDriver.run(Self.vectors[k].1, decoder: NoDecoder())
        #expect(d.steps > 0, "\(Self.vectors[k].0)")
    }

    /// Every operation with operands drawn from a fixed generator: a cheap smoke run of the
    /// driver itself in a normal test build (the fuzzer does the real search).
    @Test func pseudoRandomScriptsHoldEveryInvariant() {
        var rng = SeededGenerator(seed: 8)
        for _ in 0..<40 {
            var script: [UInt8] = []
            for _ in 0..<256 { script.append(UInt8(truncatingIfNeeded: rng.next())) }
            CoreFuzzDriver.run(script, decoder: NoDecoder())
        }
    }
}
