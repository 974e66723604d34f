import Foundation

/// Reads the output of many processes through pipes on one thread and stamps every line with
/// the monotonic time it arrived, so a line printed by a member is timed the same way whichever
/// system printed it.
final class LineTap: @unchecked Sendable {
    struct Line {
        var nanos: UInt64
        var text: String
    }

    private let condition = NSCondition()
    private var lines: [[Line]]
    private var partial: [[UInt8]]
    private let fds: [Int32]
    private let wake: [Int32]
    private var thread: Thread?

    /// `fds`: read ends of the processes' output pipes; source `i` is `fds[i]`.
    init(fds: [Int32]) throws {
        self.fds = fds
        lines = Array(repeating: [], count: fds.count)
        partial = Array(repeating: [], count: fds.count)
        var pair: [Int32] = [0, 0]
        guard pipe(&pair) == 0 else { throw BenchError("pipe: errno \(errno)") }
        wake = pair
        let t = Thread { [self] in loop() }
        t.name = "line-tap"
        thread = t
        t.start()
    }

    /// Ends the reader thread (the pipes stay open; their processes own the other ends).
    func stop() {
        var byte: UInt8 = 1
        _ = write(wake[1], &byte, 1)
    }

    /// How many lines each source has printed so far: lines after this mark are new.
    func mark() -> [Int] {
        condition.lock()
        defer { condition.unlock() }
        return lines.map(\.count)
    }

    /// Every line source `i` has printed so far.
    func lines(of i: Int) -> [String] {
        condition.lock()
        defer { condition.unlock() }
        return lines[i].map(\.text)
    }

    /// Waits until `want` of `sources` have printed, after `mark`, a line for which `matches`
    /// (source, line) holds, or until `deadline` (monotonic ns). Returns, for each source that
    /// did, when its first such line arrived.
    func firstMatches(
        in sources: Range<Int>, after mark: [Int], want: Int, deadline: UInt64, _ matches: (Int, String) -> Bool
    ) -> [Int: UInt64] {
        var found: [Int: UInt64] = [:]
        var cursor = mark
        condition.lock()
        defer { condition.unlock() }
        while true {
            for s in sources where found[s] == nil {
                while cursor[s] < lines[s].count {
                    let line = lines[s][cursor[s]]
                    cursor[s] += 1
                    if matches(s, line.text) {
                        found[s] = line.nanos
                        break
                    }
                }
            }
            let now = monotonicNanos()
            if found.count >= want || now >= deadline { return found }
            _ = condition.wait(until: Date().addingTimeInterval(Double(deadline - now) / 1e9))
        }
    }

    /// How many lines after `mark` each of `sources` has printed that `matches`.
    func count(in sources: Range<Int>, after mark: [Int], _ matches: (Int, String) -> Bool) -> [Int: Int] {
        condition.lock()
        defer { condition.unlock() }
        var counts: [Int: Int] = [:]
        for s in sources {
            counts[s] = lines[s][mark[s]...].count { matches(s, $0.text) }
        }
        return counts
    }

    private func loop() {
        var polled = (fds + [wake[0]]).map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        var chunk = [UInt8](repeating: 0, count: 65536)
        var open = fds.count
        while open > 0 {
            let r = poll(&polled, nfds_t(polled.count), -1)
            if r < 0 {
                if errno == EINTR { continue }
                return
            }
            // One stamp per wake-up, taken before reading: the reads of one wake-up take
            // microseconds, and a line cannot have arrived later than the poll that saw it.
            let now = monotonicNanos()
            if polled[fds.count].revents != 0 { return }
            for i in 0..<fds.count where polled[i].revents != 0 {
                let n = chunk.withUnsafeMutableBytes { read(polled[i].fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    polled[i].fd = -1
                    open -= 1
                    continue
                }
                take(chunk[0..<n], from: i, at: now)
            }
        }
    }

    private func take(_ bytes: ArraySlice<UInt8>, from i: Int, at now: UInt64) {
        var complete: [Line] = []
        var rest = partial[i] + bytes
        while let nl = rest.firstIndex(of: UInt8(ascii: "\n")) {
            complete.append(Line(nanos: now, text: String(decoding: rest[..<nl], as: UTF8.self)))
            rest = Array(rest[(nl + 1)...])
        }
        partial[i] = rest
        guard !complete.isEmpty else { return }
        condition.lock()
        lines[i] += complete
        condition.broadcast()
        condition.unlock()
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
