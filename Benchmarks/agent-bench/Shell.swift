import Foundation

struct CommandFailed: Error, CustomStringConvertible {
    var command: [String]
    var status: Int32
    var output: String
    var description: String { "\(command.joined(separator: " ")) exited \(status): \(output)" }
}

/// Runs a command without a shell and waits; stdout, or throws with stderr on a non-zero exit.
@discardableResult
func sh(_ arguments: String...) throws -> String { try run(arguments) }

@discardableResult
func run(_ arguments: [String]) throws -> String {
    let process = try launch(arguments, output: Pipe())
    let stdout = (process.standardOutput as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data()
    let stderr = (process.standardError as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CommandFailed(command: arguments, status: process.terminationStatus,
                            output: String(decoding: stderr, as: UTF8.self))
    }
    return String(decoding: stdout, as: UTF8.self)
}

/// Starts a command without waiting. `output` takes stdout and stderr (a log file's handle or a
/// pipe); the process's PID is the command's own, since `env` and `ip netns exec` exec rather
/// than fork.
func launch(_ arguments: [String], output: Any) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["SWIFT_BACKTRACE"] = "enable=no"
    process.environment = environment
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = output
    process.standardError = output is Pipe ? Pipe() : output
    try process.run()
    return process
}

/// Seconds on the monotonic clock, for intervals.
func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func pause(seconds: Double) {
    usleep(UInt32(seconds * 1_000_000))
}

/// Polls `condition` every `interval` seconds until it holds; throws after `timeout` seconds.
func waitUntil(_ what: String, timeout: Double, interval: Double = 0.05, _ condition: () throws -> Bool) throws {
    let deadline = now() + timeout
    while now() < deadline {
        if try condition() { return }
        pause(seconds: interval)
    }
    throw BenchError("timed out after \(Int(timeout)) s waiting until \(what)")
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
