// Built by scripts/fuzz-dns.sh with `-sanitize=fuzzer -D DNS_FUZZ`: libFuzzer's driver runs
// with our callback. A plain build (as part of `swift build`) instead replays the files named
// on the command line, which is how a crashing input is checked after a fix.

#if DNS_FUZZ
#if canImport(Glibc)
import Glibc
#endif

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    FuzzOne.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
exit(status)
#else
var replayed = 0
for path in CommandLine.arguments.dropFirst() {
    guard let bytes = readFile(path) else {
        print("cannot read \(path)")
        continue
    }
    bytes.withUnsafeBytes { FuzzOne.run($0) }
    replayed += 1
}
print("replayed \(replayed) input(s) without a crash")
#endif
