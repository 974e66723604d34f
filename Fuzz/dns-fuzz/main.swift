// Built by scripts/fuzz-dns.sh with `-sanitize=fuzzer -D DNS_FUZZ`: libFuzzer's driver runs
// with our callback. A plain build (as part of `swift build`) instead replays the files named
// on the command line, which is how a crashing input is checked after a fix.

import FuzzSupport

#if DNS_FUZZ
#if canImport(Glibc)
import Glibc
#endif

exit(runFuzzer { data, size in
    FuzzOne.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
})
#else
replay(CommandLine.arguments.dropFirst()) { bytes in bytes.withUnsafeBytes { FuzzOne.run($0) } }
#endif
