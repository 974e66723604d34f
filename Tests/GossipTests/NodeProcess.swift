import Foundation
import NIOConcurrencyHelpers
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One `gossip-node` process, with its stdout parsed into what it believes about each member.
final class NodeProcess: Sendable {
    struct View: Sendable {
        var statuses: [String: String] = [:]
        var address: String?
        /// Members listed by the last snapshot the process announced (`snapshot-written N`).
        var snapshotMembers: Int?
        var exited = false
        /// The replica as the process printed it (`row-added|row-updated|row-removed`), by
        /// "OWNER TABLE KEY": its version and value.
        var rows: [String: (version: UInt64, value: String)] = [:]
        /// Owners the process printed `owner-unavailable` for, and not `owner-available` since.
        var unavailable: Set<String> = []
        /// Every stdout line, in order.
        var lines: [String] = []
        /// Every stderr (log) line, in order; kept only when the process was started with `logs: true`.
        var logs: [String] = []
    }

    let name: String
    private let process: Process
    /// The node reads commands from its standard input (`event`, `query`, `tags`).
    private let input = Pipe()
    private let view = NIOLockedValueBox(View())
    private let changes: AsyncStream<Void>
    private let changed: AsyncStream<Void>.Continuation
    /// Finishes when the process has exited (`Process.terminationHandler`).
    private let exited: AsyncStream<Void>

    /// The executable sits next to the test bundle, in the build products directory.
    static var executable: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("gossip-node").path
    }

    /// `namespace` runs it through `ip netns exec` (which execs, so `pid` is the node's);
    /// `logs` keeps its stderr lines at `logLevel` in `View.logs`.
    init(name: String, arguments: [String], logLevel: String = "error", logs: Bool = false, namespace: String? = nil)
        throws
    {
        self.name = name
        (changes, changed) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        process = Process()
        let nodeArguments = ["--name", name, "--log-level", logLevel] + arguments
        if let namespace {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["ip", "netns", "exec", namespace, Self.executable] + nodeArguments
        } else {
            process.executableURL = URL(fileURLWithPath: Self.executable)
            process.arguments = nodeArguments
        }
        // A crash ends the child at once: the runtime's backtracer would keep a dead node
        // symbolicating for seconds, on CPUs the other nodes need.
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        let (exited, exit) = AsyncStream.makeStream(of: Void.self)
        self.exited = exited
        process.terminationHandler = { _ in exit.finish() }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardInput = input
        let view = self.view
        let changed = self.changed
        var errPipe: Pipe?
        if logs {
            errPipe = Pipe()
            process.standardError = errPipe
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        if let errPipe {
            Self.readLines(from: errPipe.fileHandleForReading) { lines in
                view.withLockedValue { $0.logs.append(contentsOf: lines) }
                changed.yield()
            } atEnd: {}
        }
        Self.readLines(from: pipe.fileHandleForReading) { lines in
            view.withLockedValue { v in
                v.lines.append(contentsOf: lines)
                for line in lines {
                    let fields = line.split(separator: " ").map(String.init)
                    guard fields.count >= 2 else { continue }
                    if fields[0] == "ready", fields.count >= 3 { v.address = fields[2] }
                    if fields[0] == "snapshot-written" { v.snapshotMembers = Int(fields[1]) }
                    v.replicate(line)
                    if ["joined", "updated", "recovered", "suspected", "failed", "left", "reaped"].contains(fields[0]) {
                        // Updated and recovered members are alive, as after "joined".
                        v.statuses[fields[1]] = ["updated", "recovered"].contains(fields[0]) ? "joined" : fields[0]
                    }
                }
            }
            changed.yield()
        } atEnd: {
            view.withLockedValue { $0.exited = true }
            changed.yield()
        }
    }

    /// Reads `handle` to its end on a thread of its own, with blocking reads, and hands over
    /// whole lines. Not `readabilityHandler`: its dispatch sources crashed libdispatch's event
    /// loop (a bad pointer in `_dispatch_event_loop_drain`) with many children starting and
    /// ending in one test process.
    private static func readLines(
        from handle: FileHandle, _ deliver: @escaping @Sendable ([String]) -> Void, atEnd: @escaping @Sendable () -> Void
    ) {
        let thread = Thread {
            var pending: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            let fd = handle.fileDescriptor
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                pending.append(contentsOf: chunk[0..<n])
                var lines: [String] = []
                while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    lines.append(String(decoding: pending[..<nl], as: UTF8.self))
                    pending.removeSubrange(...nl)
                }
                if !lines.isEmpty { deliver(lines) }
            }
            try? handle.close()
            atEnd()
        }
        thread.start()
    }

    /// Whether `gossip-node` is built next to the tests; records an issue when it is not.
    static func isBuilt() -> Bool {
        if FileManager.default.isExecutableFile(atPath: executable) { return true }
        Issue.record("gossip-node not built next to the tests: \(executable)")
        return false
    }

    var pid: Int32 { process.processIdentifier }

    /// Writes one command line to the node's standard input.
    func send(_ line: String) {
        try? input.fileHandleForWriting.write(contentsOf: Array((line + "\n").utf8))
    }

    var isRunning: Bool { process.isRunning }

    /// What stdout (and stderr, if kept) said so far.
    var current: View { view.withLockedValue { $0 } }

    /// Waits for stdout to satisfy `condition`; bounded by `timeout`.
    func waitUntil(_ what: String, timeout: Duration = .seconds(30), _ condition: @escaping @Sendable (View) -> Bool)
        async throws
    {
        let view = self.view
        let changes = self.changes
        let met = await firstTrue(within: timeout) {
            if view.withLockedValue({ condition($0) }) { return true }
            for await _ in changes where view.withLockedValue({ condition($0) }) { return true }
            return false
        }
        if !met {
            let seen = view.withLockedValue { $0.statuses.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ") }
            throw TimedOut(description: "process \(name): timed out waiting for \(what); sees \(seen)")
        }
    }

    var address: String? { view.withLockedValue { $0.address } }

    /// SIGTERM: the node leaves gracefully.
    func terminate() { if process.isRunning { kill(process.processIdentifier, SIGTERM) } }

    /// SIGKILL: a crash, no goodbye.
    /// Only while it runs: once reaped, its PID may belong to another process.
    func crash() { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    /// SIGSTOP: the process stops answering while its sockets stay open (a pause, not a
    /// crash: its host sends no port unreachable). `resume()` sends SIGCONT.
    func pause() { if process.isRunning { kill(process.processIdentifier, SIGSTOP) } }

    func resume() { if process.isRunning { kill(process.processIdentifier, SIGCONT) } }

    /// Waits for the process to end, killing it if it has not after `timeout`.
    func reap(timeout: Duration = .seconds(10)) async {
        let exited = self.exited
        let ended = await firstTrue(within: timeout) {
            for await _ in exited {}
            return !Task.isCancelled
        }
        if !ended && process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        changed.finish()
    }
}

extension NodeProcess.View {
    /// Applies one replicated-state line of gossip-node to `rows` and `unavailable`.
    mutating func replicate(_ line: String) {
        let f = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: false).map(String.init)
        switch f[0] {
        case "row-added", "row-updated":
            guard f.count == 6, let version = UInt64(f[4]) else { return }
            rows["\(f[1]) \(f[2]) \(f[3])"] = (version, f[5])
        case "row-removed":
            guard f.count >= 4 else { return }
            rows["\(f[1]) \(f[2]) \(f[3])"] = nil
        case "owner-unavailable": if f.count == 2 { unavailable.insert(f[1]) }
        case "owner-available": if f.count == 2 { unavailable.remove(f[1]) }
        default: return
        }
    }

    /// The rows of `owner`, by "TABLE KEY": value.
    func rows(of owner: String) -> [String: String] {
        var out: [String: String] = [:]
        for (id, row) in rows where id.hasPrefix(owner + " ") { out[String(id.dropFirst(owner.count + 1))] = row.value }
        return out
    }
}
