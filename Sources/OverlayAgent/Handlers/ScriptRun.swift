#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Subprocess
import Synchronization

/// How one script run ended.
struct ScriptOutcome: Sendable {
    var result: AgentMetrics.HandlerResult
    /// Standard output and standard error together, the first `outputLimit` bytes.
    var output: [UInt8]
    /// Bytes written past `output`, dropped.
    var truncated: Int
    /// Wall clock from spawn to exit.
    var seconds: Double
    /// The shell's process ID, which is also its process group's; nil when it did not start.
    var pid: Int32?
    /// `exit 3`, `signal 9`, or why the script could not start.
    var status: String
}

/// Runs `/bin/sh -c script` in a process group of its own, feeds it `stdin`, keeps at most
/// `outputLimit` bytes of its output, and kills the whole group with SIGKILL once `timeout`
/// has passed.
///
/// Never throws: a script that cannot start is a `.failed` outcome.
func runScript(_ script: String, invocation: HandlerInvocation, timeout: Duration,
               outputLimit: Int) async -> ScriptOutcome {
    let options = {
        var options = PlatformOptions()
        // setpgid(0, 0): the shell leads a new group, so the timeout reaches whatever it started.
        options.processGroupID = 0
        return options
    }()
    let environment = Environment.inherit.updating(Dictionary(uniqueKeysWithValues: invocation.environment.map {
        (Environment.Key(stringLiteral: $0.key), Optional($0.value))
    }))
    let group = ProcessGroup()
    let clock = ContinuousClock()
    let start = clock.now
    return await withTaskGroup(of: Finish.self) { tasks in
        tasks.addTask {
            do {
                let run = try await Subprocess.run(
                    .path("/bin/sh"), arguments: ["-c", script],
                    environment: environment, platformOptions: options,
                    input: .inputWriter, output: .sequence, error: .combinedWithOutput
                ) { execution in
                    group.id.withLock { $0 = execution.processIdentifier.value }
                    return try await withThrowingTaskGroup(of: Capture?.self) { io in
                        io.addTask {
                            // A script that exits without reading its input fails this write;
                            // what the script did is still its outcome.
                            _ = try? await execution.standardInputWriter.write(invocation.stdin)
                            try? await execution.standardInputWriter.finish()
                            return nil
                        }
                        io.addTask {
                            var capture = Capture(limit: outputLimit)
                            for try await chunk in execution.standardOutput {
                                chunk.withUnsafeBytes { capture.append($0) }
                            }
                            return capture
                        }
                        var capture = Capture(limit: outputLimit)
                        for try await case let c? in io { capture = c }
                        return capture
                    }
                }
                // Reaped: from here on the ID may be another process's, so the timer must not use it.
                group.id.withLock { $0 = nil }
                let capture = run.closureResult
                let (result, status): (AgentMetrics.HandlerResult, String) = switch run.terminationStatus {
                case .exited(0): (.ok, "exit 0")
                case .exited(let code): (.failed, "exit \(code)")
                case .signaled(let signal): (.failed, "signal \(signal)")
                }
                return .ran(ScriptOutcome(result: result, output: capture.bytes, truncated: capture.dropped,
                                          seconds: seconds(since: start, clock), pid: run.processIdentifier.value,
                                          status: status))
            } catch {
                let pid = group.id.withLock { pid in
                    defer { pid = nil }
                    return pid
                }
                return .ran(ScriptOutcome(result: .failed, output: [], truncated: 0, seconds: seconds(since: start, clock),
                                          pid: pid, status: "\(error)"))
            }
        }
        tasks.addTask {
            // Cancelled early when the script ends first (its leader is reaped: nothing is
            // killed) or when the handlers stop (the group is killed as at a timeout).
            let stopped = (try? await Task.sleep(for: timeout)) == nil
            // Under the lock, so that the group is killed only while its leader is not yet reaped.
            let killed = group.id.withLock { pid -> Bool in
                guard let pid else { return false }
                return kill(-pid, SIGKILL) == 0
            }
            guard killed else { return .nothingKilled }
            return stopped ? .stopped : .timerFired
        }
        var outcome: ScriptOutcome?
        var killed: Finish?
        for await next in tasks {
            switch next {
            case .ran(let ran):
                outcome = ran
                tasks.cancelAll()
            case .timerFired, .stopped: killed = next
            case .nothingKilled: break
            }
        }
        guard var outcome else { preconditionFailure("the run task always returns an outcome") }
        switch killed {
        case .timerFired?:
            outcome.result = .timeout
            outcome.status = "killed after \(timeout)"
        case .stopped?:
            outcome.result = .failed
            outcome.status = "killed: the agent is stopping"
        default: break
        }
        return outcome
    }
}

/// The running shell's process group: set once it has started, cleared once it is reaped.
private final class ProcessGroup: Sendable {
    let id = Mutex<Int32?>(nil)
}

private enum Finish: Sendable {
    case ran(ScriptOutcome)
    case timerFired
    /// The handlers stopped while the script ran: its group was killed.
    case stopped
    case nothingKilled
}

private func seconds(since start: ContinuousClock.Instant, _ clock: ContinuousClock) -> Double {
    let elapsed = clock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
}

/// The first `limit` bytes of a stream, and a count of the rest.
struct Capture: Sendable {
    let limit: Int
    var bytes: [UInt8] = []
    var dropped = 0

    init(limit: Int) {
        self.limit = limit
    }

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        let room = max(0, limit - bytes.count)
        bytes.append(contentsOf: chunk.prefix(room))
        dropped += chunk.count - min(room, chunk.count)
    }
}

/// SIGPIPE to SIG_IGN for the whole process, so that a failed write to a script's closed input
/// is an error rather than the agent's death. Subprocess resets signals to their defaults in
/// the scripts it starts, so scripts still see SIGPIPE as usual.
func ignoreBrokenPipe() { _ = signal(SIGPIPE, SIG_IGN) }
