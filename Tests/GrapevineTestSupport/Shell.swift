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
@discardableResult
public func run(_ arguments: [String], input: String? = nil, timeout: Double? = nil) throws -> String {
    let process = try launch(arguments, output: Pipe(), input: input)
    let pid = process.processIdentifier
    let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
    if let timeout { DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog) }
    // Read before waiting so that a chatty command cannot fill the pipe and block.
    let stdout = (process.standardOutput as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data()
    let stderr = (process.standardError as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data()
    process.waitUntilExit()
    watchdog.cancel()
    let text = String(decoding: stdout, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw CommandFailed(command: arguments, status: process.terminationStatus,
                            output: String(decoding: stderr, as: UTF8.self) + text)
    }
    return text
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
