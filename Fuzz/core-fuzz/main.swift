// Built by scripts/fuzz-core.sh with `-sanitize=fuzzer -D CORE_FUZZ`: libFuzzer's driver runs
// with our callback. A plain build (as part of `swift build`) instead replays the files named
// on the command line, or with `--seeds DIR` writes the seed corpus.

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

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    CoreFuzzDriver.run(UnsafeRawBufferPointer(start: data, count: size), decoder: WireDecoder())
    return 0
}
exit(status)
#else
var arguments = CommandLine.arguments.dropFirst()
if arguments.first == "--seeds", let dir = arguments.dropFirst().first {
    print("wrote \(writeSeeds(to: dir)) seed(s) to \(dir)")
    exit(0)
}
var replayed = 0
for path in arguments {
    guard let bytes = readFile(path) else {
        print("cannot read \(path)")
        continue
    }
    // GRAPEVINE_CORE_FUZZ_STRICT=1: trap on the known issues too (to see a finding again).
    let d = CoreFuzzDriver.run(bytes, decoder: WireDecoder(), strict: getenv("GRAPEVINE_CORE_FUZZ_STRICT") != nil)
    print("\(path): \(d.steps) steps, \(d.nodes.count) nodes, known issues tolerated: \(d.tolerated)")
    replayed += 1
}
print("replayed \(replayed) input(s) without a crash")
#endif
