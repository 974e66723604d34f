import Foundation

/// Everything the benchmark starts, undone on every way out (return, thrown error, SIGINT,
/// SIGTERM): processes are stopped by PID, nftables tables deleted.
final class Teardown: @unchecked Sendable {
    static let shared = Teardown()

    private let condition = NSCondition()
    private var processes: [Process] = []
    private var tables: [String] = []
    private var state = State.open
    private var signalSources: [any DispatchSourceSignal] = []

    private enum State { case open, closing, closed }

    /// Starts `process` and keeps it to stop later. Once teardown has begun, a process that
    /// still gets started (the main thread racing a signal) is stopped at once.
    func start(_ process: Process) throws {
        try process.run()
        condition.lock()
        let late = state != .open
        if !late { processes.append(process) }
        condition.unlock()
        if late { Self.stop([process]) }
    }

    /// Drops an exited process from the list, so a long run does not keep them all.
    func forget(_ process: Process) {
        condition.lock()
        processes.removeAll { $0 === process }
        condition.unlock()
    }

    /// Deletes the nftables table `inet name` at teardown (or earlier through `removeTable`).
    func keepTable(_ name: String) {
        condition.lock()
        tables.append(name)
        condition.unlock()
    }

    func removeTable(_ name: String) {
        condition.lock()
        let known = tables.contains(name)
        tables.removeAll { $0 == name }
        condition.unlock()
        if known { Self.deleteTable(name) }
    }

    /// Stops and deletes everything. The first caller does the work; a caller arriving meanwhile
    /// (a signal during a normal exit) waits until it is done, so nothing exits half-cleaned.
    func run() {
        condition.lock()
        switch state {
        case .closed:
            condition.unlock()
            return
        case .closing:
            let deadline = Date().addingTimeInterval(30)
            while state != .closed && condition.wait(until: deadline) {}
            condition.unlock()
            return
        case .open:
            state = .closing
        }
        let ps = processes
        let ts = tables
        processes = []
        tables = []
        condition.unlock()
        Self.stop(ps)
        for t in ts { Self.deleteTable(t) }
        condition.lock()
        state = .closed
        condition.broadcast()
        condition.unlock()
    }

    /// SIGINT and SIGTERM tear down and exit with 128 + the signal; SIGPIPE (a member died
    /// while we wrote to its stdin) becomes an error on the write instead of killing us.
    func catchSignals() {
        signal(SIGPIPE, SIG_IGN)
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                FileHandle.standardError.write(Data("gossip-bench: signal \(sig), stopping everything it started\n".utf8))
                run()
                exit(128 + sig)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// SIGTERM (members leave gracefully), up to 10 s, then SIGKILL; each by its own PID.
    private static func stop(_ ps: [Process]) {
        for p in ps where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(10)
        while ps.contains(where: \.isRunning) && Date() < deadline { usleep(50_000) }
        for p in ps where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        for p in ps { p.waitUntilExit() }
    }

    private static func deleteTable(_ name: String) {
        _ = try? runCommand("/usr/sbin/nft", ["delete", "table", "inet", name])
    }
}

/// Runs `executable` to completion, at most `timeout` seconds (then it is killed), with `input`
/// on its stdin; returns its exit status and what it printed (stdout and stderr together).
func runCommand(_ executable: String, _ arguments: [String], input: String? = nil, timeout: Double = 10) throws
    -> (status: Int32, output: String)
{
    let out = Pipe()
    let stdin = Pipe()
    let p = Process(executable, arguments, output: out, input: input == nil ? nil : stdin)
    try Teardown.shared.start(p)
    defer { Teardown.shared.forget(p) }
    let pid = p.processIdentifier
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
        if p.isRunning { kill(pid, SIGKILL) }
    }
    if let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try? stdin.fileHandleForWriting.close()
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

extension Process {
    /// A process whose stdout and stderr both go to `output` (so their lines interleave as
    /// printed), with `input` or /dev/null as stdin; not started.
    convenience init(_ executable: String, _ arguments: [String], output: Pipe, input: Pipe?) {
        self.init()
        executableURL = URL(fileURLWithPath: executable)
        self.arguments = arguments
        standardOutput = output
        standardError = output
        standardInput = input ?? FileHandle.nullDevice
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the one clock of every latency in this benchmark.
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
