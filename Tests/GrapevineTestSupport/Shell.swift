public import Foundation

/// A command that exited non-zero: what ran, its status, and what it said (stderr, then stdout).
public struct CommandFailed: Error, CustomStringConvertible {
    public var command: [String]
    public var status: Int32
    public var output: String
    public init(command: [String], status: Int32, output: String) {
        self.command = command
        self.status = status
        self.output = output
    }
    public var description: String { "\(command.joined(separator: " ")) exited \(status): \(output)" }
}

/// Runs a command (no shell), returns stdout; throws with stderr when it exits non-zero.
@discardableResult
public func sh(_ arguments: String..., input: String? = nil) throws -> String {
    try run(arguments, input: input)
}

/// The one way tests and benchmarks run a command and wait for it: at most `timeout` seconds
/// when given (then SIGKILL, and the command fails).
///
/// Spawned with `posix_spawn` on socket pairs made close-on-exec atomically (`SOCK_CLOEXEC`;
/// Glibc's `pipe2` does not import), not with Foundation's `Process` and `Pipe`: a `Pipe` is
/// not close-on-exec, so a long-lived process that another thread started at the same moment
/// (an agent, a gossip-node) inherited the write end, the read never saw end-of-file, and the
/// test process hung with both of its cooperative threads blocked in such reads (seen in a
/// full live run). The output is read until the command has exited and its channels are
/// drained, not until every holder of them has gone.
@discardableResult
public func run(_ arguments: [String], input: String? = nil, timeout: Double? = nil) throws -> String {
    let child = try SpawnedCommand(arguments, input: input)
    let (stdout, stderr, status) = child.collect(timeout: timeout)
    let text = String(decoding: stdout, as: UTF8.self)
    guard status == 0 else {
        throw CommandFailed(command: arguments, status: status, output: String(decoding: stderr, as: UTF8.self) + text)
    }
    return text
}

/// A command started by `posix_spawn` with its stdin, stdout and stderr on close-on-exec socket
/// pairs (index 0 ours, 1 the command's).
struct SpawnedCommand {
    let pid: pid_t
    let stdout: Int32
    let stderr: Int32

    init(_ arguments: [String], input: String?) throws {
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        var inPipe: [Int32] = [-1, -1]
        let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, kind, 0, &outPipe) == 0, socketpair(AF_UNIX, kind, 0, &errPipe) == 0,
              socketpair(AF_UNIX, kind, 0, &inPipe) == 0
        else {
            let e = errno
            for fd in outPipe + errPipe + inPipe where fd >= 0 { close(fd) }
            throw BenchError("\(arguments.joined(separator: " ")): socketpair: \(String(cString: strerror(e)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on the copies the command gets as 0, 1 and 2.
        posix_spawn_file_actions_adddup2(&actions, inPipe[1], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        // Nothing else of this process reaches the command: not every descriptor here is
        // close-on-exec (sockets of the nodes under test were, held by a command, still bound
        // after their node stopped), as Foundation's `Process` closes them too.
        Self.closeFrom3(&actions)
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        let argv = (["/usr/bin/env"] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/usr/bin/env", &actions, nil, argv, envp)
        close(inPipe[1])
        close(outPipe[1])
        close(errPipe[1])
        guard spawned == 0 else {
            close(inPipe[0])
            close(outPipe[0])
            close(errPipe[0])
            throw BenchError("\(arguments.joined(separator: " ")): posix_spawn: \(String(cString: strerror(spawned)))")
        }
        if let input {
            // Small inputs only (a socket buffer holds them); a command that exits without
            // reading makes the write fail, which is its own business. MSG_NOSIGNAL: no SIGPIPE.
            var bytes = Array(input.utf8)[...]
            while !bytes.isEmpty {
                let n = bytes.withUnsafeBytes { send(inPipe[0], $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                bytes = bytes.dropFirst(n)
            }
        }
        close(inPipe[0])
        self.pid = pid
        stdout = outPipe[0]
        stderr = errPipe[0]
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later; it does not import
    /// into Swift), else one close per descriptor open now (`/proc/self/fd`).
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    private static func closeFrom3(_ actions: inout posix_spawn_file_actions_t) {
        if let addCloseFrom = Self.addCloseFrom, addCloseFrom(&actions, 3) == 0 { return }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap(Int32.init) where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
    }

    /// Reads both outputs until the command exited and nothing more is waiting in them
    /// (SIGKILL at `timeout`), closes them, and reaps the command: its output and exit status
    /// (128 + the signal when a signal ended it).
    func collect(timeout: Double?) -> (stdout: [UInt8], stderr: [UInt8], status: Int32) {
        var out: [UInt8] = []
        var err: [UInt8] = []
        var open = [stdout, stderr]
        let deadline = timeout.map { ContinuousClock.now + .milliseconds(Int($0 * 1000)) }
        var status: Int32?
        var killed = false
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !open.isEmpty {
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            // Short waits: once the command has exited, what a process that inherited its
            // output may still hold is not waited for.
            _ = poll(&fds, nfds_t(fds.count), 100)
            var readSomething = false
            for p in fds where p.revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(p.fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    readSomething = true
                    if p.fd == stdout { out += buffer[0..<n] } else { err += buffer[0..<n] }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    open.removeAll { $0 == p.fd }
                }
            }
            if status == nil { status = reap(wait: false) }
            if status != nil, !readSomething { break }
            if let deadline, !killed, ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                killed = true
            }
        }
        close(stdout)
        close(stderr)
        return (out, err, status ?? reap(wait: true) ?? -1)
    }

    /// The command's exit status once it exited (waiting for it when `wait`), else nil.
    private func reap(wait: Bool) -> Int32? {
        var raw: Int32 = 0
        let r = waitpid(pid, &raw, wait ? 0 : WNOHANG)
        guard r == pid else { return r < 0 && errno == ECHILD ? -1 : nil }
        // WIFEXITED / WEXITSTATUS / WTERMSIG by hand: Glibc's macros do not import into Swift.
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }
}

/// Starts a command (no shell) without waiting for it. `output` takes stdout and stderr (a log
/// file's handle, `FileHandle.nullDevice`, or a `Pipe`, in which case stderr gets a pipe of its
/// own); `input`, when given, is written to its stdin, which is then closed. The process's PID
/// is the command's own, since `env` and `ip netns exec` exec rather than fork: stop it by PID.
public func launch(_ arguments: [String], output: Any, input: String? = nil) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["SWIFT_BACKTRACE"] = "enable=no"
    process.environment = environment
    let inPipe = Pipe()
    process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
    process.standardOutput = output
    process.standardError = output is Pipe ? Pipe() : output
    try process.run()
    if let input {
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try inPipe.fileHandleForWriting.close()
    }
    return process
}

/// Whether a command succeeds, without throwing (for bounded retry loops such as ping).
public func succeeds(_ arguments: String...) -> Bool {
    (try? run(arguments)) != nil
}

/// A benchmark or rig step that went wrong, in words.
public struct BenchError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
