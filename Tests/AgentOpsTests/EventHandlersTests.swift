import Foundation
import InMemoryLogging
import Logging
@testable import OverlayAgent
import Testing

/// Real scripts through `/bin/sh`, run by the workers of `run()` while each test's body runs.
/// Completion is awaited with `waitUntilIdle()` (or the query's answer), never with a sleep.
struct EventHandlersTests {
    static let members = [
        MemberView(name: "web-1", address: "10.0.0.1:7946", status: "alive", incarnation: 1,
                   tags: ["role": "web", "zone": "a"]),
        MemberView(name: "db\t1", address: "[fd00::2]:7946", status: "alive", incarnation: 3, tags: [:]),
    ]

    @Test func aMemberEventScriptSeesSerfsEnvironmentAndStandardInput() async throws {
        let dir = try TemporaryDirectory()
        let out = dir.path("out")
        let log = RecordingLog()
        let handlers = try EventHandlers.make(["member-join,member-leave={ env; echo ---; cat; } > '\(out)'"],
                                             selfTags: ["role": "edge", "dc-1.zone": "b"], log: log)
        try await handlers.whileRunning {
            handlers.memberEvent("member-join", members: Self.members)
            await handlers.waitUntilIdle()
            let (environment, stdin) = try Self.read(out)
            for prefix in ["GRAPEVINE_", "SERF_"] {
                #expect(environment[prefix + "EVENT"] == "member-join")
                #expect(environment[prefix + "SELF_NAME"] == "self-1")
                #expect(environment[prefix + "SELF_ROLE"] == "edge")
                #expect(environment[prefix + "TAG_ROLE"] == "edge")
                #expect(environment[prefix + "TAG_DC_1_ZONE"] == "b")
                #expect(environment[prefix + "USER_EVENT"] == nil)
            }
            // The agent's own environment is passed on.
            #expect(environment["PATH"] != nil)
            #expect(stdin == "web-1\t10.0.0.1\tweb\trole=web,zone=a\ndb\\t1\tfd00::2\t\t\n")
            #expect(log.entries(at: .warning).isEmpty)
        }
    }

    @Test func aUserEventScriptGetsNameLamportTimeAndPayload() async throws {
        let dir = try TemporaryDirectory()
        let out = dir.path("out")
        let handlers = try EventHandlers.make(["user:deploy={ env; echo ---; cat; } > '\(out)'",
                                               "user:other=echo wrong > '\(out)'"])
        try await handlers.whileRunning {
            handlers.userEvent(name: "deploy", ltime: 42, payload: Array("v1.2".utf8))
            await handlers.waitUntilIdle()
            let (environment, stdin) = try Self.read(out)
            #expect(environment["GRAPEVINE_EVENT"] == "user" && environment["SERF_EVENT"] == "user")
            #expect(environment["GRAPEVINE_USER_EVENT"] == "deploy" && environment["SERF_USER_EVENT"] == "deploy")
            #expect(environment["GRAPEVINE_USER_LTIME"] == "42" && environment["SERF_USER_LTIME"] == "42")
            #expect(stdin == "v1.2\n")
        }
    }

    @Test func aQueryHandlersOutputIsTheResponse() async throws {
        let metrics = AgentMetrics()
        let handlers = try EventHandlers.make([
            #"query:load=printf '%s %s ' "$SERF_QUERY_NAME" "$GRAPEVINE_QUERY_LTIME"; cat; echo oops >&2"#,
            "query:big=head -c 5000 /dev/zero",
            "query:quiet=true",
            "query:fails=echo partial; exit 1",
        ], metrics: metrics, queryResponseLimit: 100)
        try await handlers.whileRunning {
            let answer = await handlers.query(name: "load", ltime: 7, payload: Array("ping".utf8))
            #expect(answer.map { String(decoding: $0, as: UTF8.self) } == "load 7 ping\noops\n")
            // Cut to the response limit.
            #expect(await handlers.query(name: "big", ltime: 8, payload: []) == [UInt8](repeating: 0, count: 100))
            // No output, a failure, or no handler: no response.
            #expect(await handlers.query(name: "quiet", ltime: 9, payload: []) == nil)
            #expect(await handlers.query(name: "fails", ltime: 10, payload: []) == nil)
            #expect(await handlers.query(name: "unknown", ltime: 11, payload: []) == nil)
            await handlers.waitUntilIdle()
            let text = metrics.text()
            #expect(text.contains(#"grapevine_handler_runs_total{event="query",result="ok"} 3"#))
            #expect(text.contains(#"grapevine_handler_runs_total{event="query",result="failed"} 1"#))
        }
    }

    @Test func aNonZeroExitIsCountedAndLoggedAtWarning() async throws {
        let metrics = AgentMetrics()
        let log = RecordingLog()
        let handlers = try EventHandlers.make(["member-failed=echo boom; exit 3"], metrics: metrics, log: log)
        try await handlers.whileRunning {
            handlers.memberEvent("member-failed", members: Self.members)
            await handlers.waitUntilIdle()
            #expect(metrics.text().contains(#"grapevine_handler_runs_total{event="member-failed",result="failed"} 1"#))
            let warnings = log.entries(at: .warning)
            #expect(warnings.count == 1)
            #expect(warnings.first?.metadata["handler.status"] == "exit 3")
            #expect(warnings.first?.metadata["handler.output"] == "boom\n")
            #expect(warnings.first?.message == "event handler failed")
        }
    }

    /// The background `sleep` is in the shell's process group: the timeout's SIGKILL reaches it.
    @Test(.timeLimit(.minutes(2))) func aScriptPastItsTimeoutIsKilledWithItsProcessGroup() async throws {
        let dir = try TemporaryDirectory()
        let pids = dir.path("pids")
        let metrics = AgentMetrics()
        let handlers = try EventHandlers.make(["user=echo $$ > '\(pids)'; sleep 600 & echo $! >> '\(pids)'; wait"],
                                             metrics: metrics, timeout: .seconds(2))
        try await handlers.whileRunning {
            handlers.userEvent(name: "hang", ltime: 1, payload: [])
            await handlers.waitUntilIdle()
            #expect(metrics.text().contains(#"grapevine_handler_runs_total{event="user",result="timeout"} 1"#))
            let written = try String(contentsOfFile: pids, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
            try #require(written.count == 2, "the script wrote \(written)")
            // The shell was reaped by the runner. The orphaned sleep is not waited for: it is gone, a
            // zombie, or still on its way out with the SIGKILL pending.
            #expect(kill(written[0], 0) == -1 && errno == ESRCH)
            #expect(isKilled(written[1]), "process \(written[1]) outlived the timeout")
        }
    }

    @Test func anEventFindingTheQueueFullIsDroppedAndCounted() async throws {
        let dir = try TemporaryDirectory()
        let fifo = dir.path("gate")
        try #require(mkfifo(fifo, 0o600) == 0)
        let metrics = AgentMetrics()
        let log = RecordingLog()
        // One slot and one place in the queue: the first event runs (blocked on the FIFO), the
        // second waits, the third is dropped at once.
        let handlers = try EventHandlers.make(["user:hold=read line < '\(fifo)'", "user:quick=true", "query=echo answer"],
                                             metrics: metrics, log: log, concurrency: 1, queueLimit: 1)
        try await handlers.whileRunning {
            handlers.userEvent(name: "hold", ltime: 1, payload: [])
            handlers.userEvent(name: "quick", ltime: 2, payload: [])
            handlers.userEvent(name: "quick", ltime: 3, payload: [])
            #expect(await handlers.query(name: "q", ltime: 4, payload: []) == nil)
            let text = metrics.text()
            #expect(text.contains(#"grapevine_handler_runs_total{event="user",result="dropped"} 1"#))
            #expect(text.contains(#"grapevine_handler_runs_total{event="query",result="dropped"} 1"#))
            #expect(log.entries(at: .warning).filter { $0.message == "event handler dropped: queue full" }.count == 2)
            // Opening the FIFO waits for the script to read it: the held script is running.
            let gate = await openForWriting(fifo)
            try #require(gate >= 0)
            _ = write(gate, "go\n", 3)
            close(gate)
            await handlers.waitUntilIdle()
            #expect(metrics.text().contains(#"grapevine_handler_runs_total{event="user",result="ok"} 2"#))
        }
    }

    /// Events before `run()` wait for it; cancelling it kills the running script's process group
    /// and drops what waits (a waiting query gets no answer), so no script outlives the agent.
    @Test(.timeLimit(.minutes(2))) func scriptsRunOnlyWhileTheWorkersRun() async throws {
        let dir = try TemporaryDirectory()
        let fifo = dir.path("gate"), pids = dir.path("pids")
        try #require(mkfifo(fifo, 0o600) == 0)
        let metrics = AgentMetrics()
        let handlers = try EventHandlers.make(["user:hold=echo $$ > '\(pids)'; read line < '\(fifo)'", "query=echo answer"],
                                             metrics: metrics, concurrency: 1, queueLimit: 4)
        // Queued before the workers run.
        handlers.userEvent(name: "hold", ltime: 1, payload: [])
        try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
            group.addTask { await handlers.run(); return nil }
            // Opening the FIFO waits for the script to open it: the held script is running.
            let gate = await openForWriting(fifo)
            try #require(gate >= 0)
            defer { close(gate) }
            group.addTask { await handlers.query(name: "q", ltime: 2, payload: []) }
            // The query is queued behind the held script once the queue holds it.
            while handlers.waiting == 0 { await Task.yield() }
            group.cancelAll()
            var answers: [[UInt8]?] = []
            for try await answer in group { answers.append(answer) }
            #expect(answers.count == 2 && answers.allSatisfy { $0 == nil })
        }
        let text = metrics.text()
        #expect(text.contains(#"grapevine_handler_runs_total{event="user",result="failed"} 1"#))
        #expect(text.contains(#"grapevine_handler_runs_total{event="query",result="dropped"} 1"#))
        let shell = try #require(Int32(try String(contentsOfFile: pids, encoding: .utf8).split(separator: "\n").first ?? ""))
        #expect(kill(shell, 0) == -1 && errno == ESRCH)
    }

    /// `env` output (before the `---` line) as a dictionary, and the rest.
    static func read(_ path: String) throws -> ([String: String], String) {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let parts = text.split(separator: "---\n", maxSplits: 1, omittingEmptySubsequences: false)
        try #require(parts.count == 2)
        var environment: [String: String] = [:]
        for line in parts[0].split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            environment[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return (environment, String(parts[1]))
    }
}

/// Whether `pid` is gone, a zombie, or has a SIGKILL pending (the kernel has yet to run its exit).
func isKilled(_ pid: Int32) -> Bool {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return true }
    let sigkill: UInt64 = 1 << (UInt64(SIGKILL) - 1)
    for line in status.split(separator: "\n") {
        let fields = line.split(separator: "\t").map { $0.trimmingCharacters(in: .whitespaces) }
        guard fields.count == 2 else { continue }
        switch fields[0] {
        case "State:" where fields[1].hasPrefix("Z") || fields[1].hasPrefix("X"): return true
        case "SigPnd:", "ShdPnd:": if let mask = UInt64(fields[1], radix: 16), mask & sigkill != 0 { return true }
        default: break
        }
    }
    return false
}

extension EventHandlers {
    /// Runs `body` while the workers run (`run()`), then cancels them.
    func whileRunning(_ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.run() }
            defer { group.cancelAll() }
            try await body()
        }
    }

    static func make(_ specs: [String], selfTags: [String: String] = [:], metrics: AgentMetrics = AgentMetrics(),
                     log: RecordingLog = RecordingLog(), concurrency: Int = 4, queueLimit: Int = 16,
                     timeout: Duration = .seconds(60), queryResponseLimit: Int = 1024) throws -> EventHandlers {
        EventHandlers(specs: try specs.map(HandlerSpec.init(parsing:)), selfName: "self-1", selfTags: selfTags,
                      concurrency: concurrency, timeout: timeout, metrics: metrics, logger: log.logger,
                      queueLimit: queueLimit, queryResponseLimit: queryResponseLimit)
    }
}

/// Opens a FIFO for writing on a thread of its own: the open blocks until a script opens the
/// FIFO for reading, and blocking a thread of the cooperative pool (two threads on two cores)
/// would starve the tasks that start the scripts.
func openForWriting(_ path: String) async -> Int32 {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: open(path, O_WRONLY)) }
    }
}

/// A directory under the system's temporary directory, deleted when the value goes away.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("agent-ops-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A logger that keeps what it was told, at debug and above.
struct RecordingLog {
    let handler = InMemoryLogHandler()

    var logger: Logger {
        var logger = Logger(label: "agent-ops-test") { [handler] _ in handler }
        logger.logLevel = .debug
        return logger
    }

    func entries(at level: Logger.Level) -> [InMemoryLogHandler.Entry] { handler.entries.filter { $0.level == level } }
}
