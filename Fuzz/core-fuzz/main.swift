// Built by scripts/fuzz-core.sh with `-sanitize=fuzzer -D CORE_FUZZ`: libFuzzer's driver runs
// with our callback. A plain build (as part of `swift build`) instead replays the files named
// on the command line, or with `--seeds DIR` writes the seed corpus.

import FuzzSupport
import GossipCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func writeSeeds(to dir: String) -> Int {
    var written = 0
    for (name, bytes) in Seeds.all() where writeFile(dir + "/seed-" + name, bytes) { written += 1 }
    return written
}

#if CORE_FUZZ
// scripts/fuzz-core.sh asks the fuzzing build for the seed corpus through the environment,
// since libFuzzer owns the command line.
if let dir = getenv("GRAPEVINE_CORE_FUZZ_SEEDS") {
    print("wrote \(writeSeeds(to: String(cString: dir))) seed(s)")
    exit(0)
}

exit(runFuzzer { data, size in
    CoreFuzzDriver.run(UnsafeRawBufferPointer(start: data, count: size), decoder: WireDecoder())
    return 0
})
#else
var arguments = CommandLine.arguments.dropFirst()
if arguments.first == "--seeds", let dir = arguments.dropFirst().first {
    print("wrote \(writeSeeds(to: dir)) seed(s) to \(dir)")
    exit(0)
}
var replayed = 0
// With --summary, one line per input is left out and what the inputs reached is totalled
// instead: refusals by reason and a few counters, over every node of every input.
let summary = arguments.first == "--summary"
if summary { arguments = arguments.dropFirst() }
var refusals = Refusals()
var totals = (steps: 0, codec: 0, probes: 0, refutations: 0, pushPulls: 0, suspicions: 0, maxMembers: 0, left: 0)
for path in arguments {
    guard let bytes = readFile(path) else {
        print("cannot read \(path)")
        continue
    }
    // GRAPEVINE_CORE_FUZZ_STRICT=1: trap on the known issues too (to see a finding again).
    let d = CoreFuzzDriver.run(bytes, decoder: WireDecoder())
    if !summary { print("\(path): \(d.steps) steps, \(d.nodes.count) nodes") }
    totals.steps += d.steps
    totals.codec += d.codecAccepted
    for n in d.nodes {
        for r in Refusal.allCases { refusals[r] += n.counters.refusals[r] }
        totals.probes += n.counters.probes
        totals.refutations += n.counters.refutations
        totals.pushPulls += n.counters.pushPulls
        totals.suspicions += n.counters.suspicionsRaised
        totals.maxMembers = max(totals.maxMembers, n.knownMembers.count)
        if n.hasLeft { totals.left += 1 }
    }
    replayed += 1
}
print("replayed \(replayed) input(s) without a crash")
if summary {
    print("steps \(totals.steps), codec-accepted attacker inputs \(totals.codec), probes \(totals.probes), refutations \(totals.refutations), push/pulls \(totals.pushPulls), suspicions raised \(totals.suspicions), largest table \(totals.maxMembers), nodes that left \(totals.left)")
    print("refusals: " + refusals.nonZero.map { "\($0.reason) \($0.count)" }.joined(separator: ", "))
}
#endif
