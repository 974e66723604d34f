public import Foundation
import Glibc

/// The one way tests and benchmarks read /proc, and what they read there.
public enum ProcFile {
    /// The whole of a /proc file, read until read(2) returns 0; nil if it cannot be opened or
    /// read. Not Foundation's `String(contentsOfFile:)` or `FileManager.contents(atPath:)`:
    /// for a file whose stat size is 0 they stop at the first read shorter than 4,096 bytes
    /// (seen with strace: one `read(fd, buf, 4096)` returning 4,086), and the kernel hands
    /// /proc/PID/mountinfo out about one page per read. Past about 40 mounts (the full live
    /// run) they returned the first page only, without an error: the newest mounts, a SIGKILLed
    /// dockerd's data root among them, were not there to unmount (Docs/DOCKER-TESTING.md).
    public static func read(_ path: String) -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count == 0 { return data }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            data.append(contentsOf: buffer[0..<count])
        }
    }

    /// The command line of process `pid`, its arguments joined by spaces; nil once it is gone.
    public static func commandLine(_ pid: Int32) -> String? {
        guard let data = read("/proc/\(pid)/cmdline") else { return nil }
        return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
    }

    /// Whether our child `pid` has exited (a zombie, or gone). `Process.isRunning` is not
    /// enough: swift-corelibs-foundation learns of a child's exit when a socket the child
    /// inherited closes, and dockerd passes it on to containerd and every containerd-shim, so
    /// while a shim lives (after SIGKILL) `isRunning` stays true and `waitUntilExit` spins.
    public static func hasExited(_ pid: Int32) -> Bool {
        guard let data = read("/proc/\(pid)/stat") else { return true }
        let stat = String(decoding: data, as: UTF8.self)
        guard let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].first { $0 != " " }
        return state == "Z" || state == "X"
    }

    /// PIDs (other than this process) whose command line contains `text`.
    public static func processes(mentioning text: String) -> [Int32] {
        let me = getpid()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            pid != me && commandLine(pid)?.contains(text) == true
        }
    }

    /// Mount points at or under `path`, from /proc/self/mountinfo (all of it, `read`).
    public static func mounts(under path: String) -> [String] {
        let text = String(decoding: read("/proc/self/mountinfo") ?? Data(), as: UTF8.self)
        return text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = unescapeMountinfo(String(fields[4]))
            return point == path || point.hasPrefix(path + "/") ? point : nil
        }
    }

    /// mountinfo writes space, tab, newline and backslash as \ooo.
    private static func unescapeMountinfo(_ text: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
               let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
