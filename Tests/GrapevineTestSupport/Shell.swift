import Foundation

public struct CommandFailed: Error, CustomStringConvertible {
    public var command: [String]
    public var status: Int32
    public var output: String
    public var description: String { "\(command.joined(separator: " ")) exited \(status): \(output)" }
}

/// Runs a command (no shell), returns stdout; throws with stderr when it exits non-zero.
@discardableResult
public func sh(_ arguments: String..., input: String? = nil) throws -> String {
    try run(arguments, input: input)
}

@discardableResult
public func run(_ arguments: [String], input: String? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let inPipe = Pipe()
    if input != nil { process.standardInput = inPipe }
    try process.run()
    if let input {
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try inPipe.fileHandleForWriting.close()
    }
    // Read before waiting so that a chatty command cannot fill the pipe and block.
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: stdout, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw CommandFailed(command: arguments, status: process.terminationStatus,
                            output: String(decoding: stderr, as: UTF8.self) + text)
    }
    return text
}

/// Whether a command succeeds, without throwing (for bounded retry loops such as ping).
public func succeeds(_ arguments: String...) -> Bool {
    (try? run(arguments)) != nil
}
