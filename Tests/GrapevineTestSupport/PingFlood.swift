import Foundation

/// A ping flood in a namespace, judged per sequence number.
///
/// `ping -c N` alone waits only max(2 × the largest RTT, the interval) for the last reply, so
/// on a loaded machine a late reply counts as lost. With a deadline (`-w`) ping keeps going
/// until N replies have come back, sending more probes if some were lost; the flood is then
/// judged on which of the first N sequence numbers were answered, which a late reply does not
/// change and a lost one does.
public final class PingFlood: @unchecked Sendable {
    public let namespace: String
    public let target: String
    public let count: Int
    private let process = Process()
    private let output = Pipe()

    /// Starts `count` pings `interval` seconds apart from the named namespace `namespace`, or
    /// from the namespace of process `pid` (a container's), to `target`.
    public init(namespace: String, pid: Int32? = nil, target: String, count: Int = 400, interval: Double = 0.01) throws {
        self.namespace = namespace
        self.target = target
        self.count = count
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let deadline = Int(Double(count) * interval) + 30
        let enter = pid.map { ["nsenter", "--net=/proc/\($0)/ns/net"] } ?? ["ip", "netns", "exec", namespace]
        process.arguments = enter + ["ping", "-n", "-i", "\(interval)", "-c", "\(count)", "-w", "\(deadline)", target]
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    /// Waits for ping to end (blocking: call it off the concurrency pool) and returns the
    /// sequence numbers in 1...count that got no reply, and ping's own summary.
    public func unanswered() -> (missing: [Int], summary: String) {
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        var answered = Set<Int>()
        for line in text.split(separator: "\n") where line.contains(" bytes from ") {
            guard let range = line.range(of: "icmp_seq=") else { continue }
            let digits = line[range.upperBound...].prefix { $0.isNumber }
            if let seq = Int(digits) { answered.insert(seq) }
        }
        let missing = (1...count).filter { !answered.contains($0) }
        let summary = text.split(separator: "\n").suffix(2).joined(separator: "; ")
        return (missing, summary)
    }

    /// Stops ping early (a failing test must not leave it running).
    public func stop() {
        if process.isRunning { process.terminate() }
    }
}

/// Runs `body` on a new thread, off Swift's concurrency pool, and returns what it returns.
/// Blocking commands on the pool (two threads on two cores) would stall every other test.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
