#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a whole file with the C library, so that a fuzz target needs no Foundation.
public func readFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        if n == 0 { break }
        out += chunk[0..<n]
    }
    return out
}

/// Writes a whole file with the C library.
@discardableResult
public func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
    guard let f = fopen(path, "wb") else { return false }
    defer { fclose(f) }
    return bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) } == bytes.count
}

/// A plain build's replay: `body` on each file named, then one line saying how many ran.
/// - Returns: how many files were read and replayed.
@discardableResult
public func replay(_ paths: some Sequence<String>, _ body: ([UInt8]) -> Void) -> Int {
    var replayed = 0
    for path in paths {
        guard let bytes = readFile(path) else {
            print("cannot read \(path)")
            continue
        }
        body(bytes)
        replayed += 1
    }
    print("replayed \(replayed) input(s) without a crash")
    return replayed
}
