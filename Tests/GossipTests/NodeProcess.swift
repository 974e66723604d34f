import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// One `gossip-node` process, with its stdout parsed into what it believes about each member.
final class NodeProcess: Sendable {
    struct View: Sendable {
        var statuses: [String: String] = [:]
        var address: String?
        var exited = false
    }

    let name: String
    private let process: Process
    private let view = NIOLockedValueBox(View())
    private let changes: AsyncStream<Void>
    private let changed: AsyncStream<Void>.Continuation

    /// The executable sits next to the test bundle, in the build products directory.
    static var executable: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("gossip-node").path
    }

    init(name: String, arguments: [String]) throws {
        self.name = name
        (changes, changed) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = ["--name", name, "--log-level", "error"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        let view = self.view
        let changed = self.changed
        let pending = NIOLockedValueBox([UInt8]())
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                view.withLockedValue { $0.exited = true }
                changed.yield()
                return
            }
            let lines: [String] = pending.withLockedValue { buf in
                buf.append(contentsOf: data)
                var out: [String] = []
                while let nl = buf.firstIndex(of: UInt8(ascii: "\n")) {
                    out.append(String(decoding: buf[..<nl], as: UTF8.self))
                    buf.removeSubrange(...nl)
                }
                return out
            }
            view.withLockedValue { v in
                for line in lines {
                    let fields = line.split(separator: " ").map(String.init)
                    guard fields.count >= 2 else { continue }
                    if fields[0] == "ready", fields.count >= 3 { v.address = fields[2] }
                    if ["joined", "updated", "recovered", "suspected", "failed", "left", "reaped"].contains(fields[0]) {
                        // Updated and recovered members are alive, as after "joined".
                        v.statuses[fields[1]] = ["updated", "recovered"].contains(fields[0]) ? "joined" : fields[0]
                    }
                }
            }
            changed.yield()
        }
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

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
    func terminate() { kill(process.processIdentifier, SIGTERM) }

    /// SIGKILL: a crash, no goodbye.
    func crash() { kill(process.processIdentifier, SIGKILL) }

    /// Waits for the process to end, killing it if it has not after `timeout`.
    func reap(timeout: Duration = .seconds(10)) async {
        let process = self.process
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        changed.finish()
    }
}
