public import Logging
import Synchronization

/// Runs the configured event handler scripts (Docs/HANDLERS.md) as Serf's agent does, except
/// that the caller never waits for them: at most `concurrency` scripts run at once, up to
/// `queueLimit` more wait behind them, and an event that finds the queue full is dropped
/// (logged, counted `dropped`). A script still running after `timeout` has its process group
/// killed (counted `timeout`); a non-zero exit is logged at warning (counted `failed`).
///
/// Every matching handler runs once per event, in the order configured when they queue.
///
/// Scripts run on `concurrency` workers, child tasks of `run()` (the agent's run): events that
/// arrive before it starts wait in the queue; when it is cancelled, scripts running are ended
/// with their process groups and events still waiting are dropped (a query among them gets no
/// answer).
public final class EventHandlers: Sendable {
    /// Serf's limit on the output it keeps of one script (`maxBufSize` in invoke.go).
    public static let outputLimit = 8 * 1024

    private let specs: [HandlerSpec]
    private let selfName: String
    private let concurrency: Int
    private let queueLimit: Int
    private let timeout: Duration
    private let queryResponseLimit: Int
    private let metrics: AgentMetrics
    private let logger: Logger
    private let state: Mutex<State>

    private struct State {
        var selfTags: [String: String]
        /// Jobs admitted to a slot (at most `concurrency`): running, or taken by no worker yet.
        var running = 0
        /// Admitted jobs no worker has taken yet, oldest first.
        var admitted: [Job] = []
        /// Jobs waiting for a free slot, oldest first; at most `queueLimit`.
        var queue: [Job] = []
        /// Workers waiting for a job.
        var idleWorkers: [CheckedContinuation<Job?, Never>] = []
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        /// `run()` was cancelled: no job is taken any more.
        var stopped = false
    }

    private struct Job: Sendable {
        var script: String
        var invocation: HandlerInvocation
        /// Called once with the run's outcome, or nil when the job is dropped.
        var done: (@Sendable (ScriptOutcome?) -> Void)?
    }

    /// - Parameters:
    ///   - specs: the handlers, in configuration order.
    ///   - selfName, selfTags: this member, for `*_SELF_NAME`, `*_SELF_ROLE` and `*_TAG_<KEY>`.
    ///   - concurrency: scripts running at once, at least 1.
    ///   - queueLimit: scripts waiting for a slot, at least 0; beyond it events are dropped.
    ///   - timeout: wall-clock time a script may run before its process group gets SIGKILL.
    ///   - queryResponseLimit: bytes of a query handler's output kept as the response (Serf's
    ///     `query_response_size_limit`, 1024 by default).
    public init(specs: [HandlerSpec], selfName: String, selfTags: [String: String], concurrency: Int,
                timeout: Duration, metrics: AgentMetrics, logger: Logger, queueLimit: Int = 128,
                queryResponseLimit: Int = 1024) {
        precondition(concurrency >= 1 && queueLimit >= 0 && queryResponseLimit >= 0 && timeout > .zero,
                     "EventHandlers limits out of range")
        self.specs = specs
        self.selfName = selfName
        self.concurrency = concurrency
        self.queueLimit = queueLimit
        self.timeout = timeout
        self.queryResponseLimit = queryResponseLimit
        self.metrics = metrics
        self.logger = logger
        self.state = Mutex(State(selfTags: selfTags))
        // A script that exits without reading its standard input would otherwise end the agent
        // with SIGPIPE when its input is written.
        ignoreBrokenPipe()
    }

    /// This member's tags changed; later events see the new ones.
    public func setSelfTags(_ tags: [String: String]) { state.withLock { $0.selfTags = tags } }

    /// A membership change (`kind` is a `HandlerEvent` raw value: `member-join`, `member-leave`,
    /// `member-failed`, `member-update`, `member-reap`; anything else is ignored).
    public func memberEvent(_ kind: String, members: [MemberView]) {
        guard let event = HandlerEvent(rawValue: kind), event != .user, event != .query, !members.isEmpty else { return }
        let tags = state.withLock { $0.selfTags }
        let invocation = HandlerInvocation.member(event, members: members, selfName: selfName, selfTags: tags)
        submit(invocation, first: nil)
    }

    /// A user event (Serf's `event`) with its Lamport time.
    public func userEvent(name: String, ltime: UInt64, payload: [UInt8]) {
        let tags = state.withLock { $0.selfTags }
        submit(.named(.user, name: name, ltime: ltime, payload: payload, selfName: selfName, selfTags: tags), first: nil)
    }

    /// A query: runs every matching handler and returns the output of the first one configured,
    /// cut to `queryResponseLimit` bytes. Nil (send no response) when no handler matches, or the
    /// first one was dropped, failed, timed out or wrote nothing — as Serf, which answers only
    /// with a successful script's non-empty output.
    public func query(name: String, ltime: UInt64, payload: [UInt8]) async -> [UInt8]? {
        let tags = state.withLock { $0.selfTags }
        let invocation = HandlerInvocation.named(.query, name: name, ltime: ltime, payload: payload, selfName: selfName,
                                                 selfTags: tags)
        guard specs.contains(where: { $0.matches(.query, name: name) }) else { return nil }
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<ScriptOutcome?, Never>) in
            submit(invocation, first: { continuation.resume(returning: $0) })
        }
        guard let outcome, outcome.result == .ok, !outcome.output.isEmpty else { return nil }
        return Array(outcome.output.prefix(queryResponseLimit))
    }

    /// Events waiting for a free slot.
    var waiting: Int { state.withLock { $0.queue.count } }

    /// Returns once no script runs and none waits (at once when idle).
    public func waitUntilIdle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state in
                if state.running == 0 && state.queue.isEmpty { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// Queues one job per matching handler; `first` hears how the first one went.
    private func submit(_ invocation: HandlerInvocation, first: (@Sendable (ScriptOutcome?) -> Void)?) {
        var first = first
        for spec in specs where spec.matches(invocation.event, name: invocation.name) {
            let job = Job(script: spec.script, invocation: invocation, done: first)
            first = nil
            enum Admission { case start(CheckedContinuation<Job?, Never>), queued, dropped }
            let admission: Admission = state.withLock { state in
                guard !state.stopped else { return .dropped }
                if state.running < concurrency {
                    state.running += 1
                    if let worker = state.idleWorkers.popLast() { return .start(worker) }
                    state.admitted.append(job)
                    return .queued
                }
                guard state.queue.count < queueLimit else { return .dropped }
                state.queue.append(job)
                return .queued
            }
            switch admission {
            case .start(let worker): worker.resume(returning: job)
            case .queued: break
            case .dropped:
                metrics.handlerRan(event: invocation.event, result: .dropped, seconds: nil)
                logger.warning("event handler dropped: queue full", metadata: metadata(job, [
                    "handler.running": "\(concurrency)", "handler.queued": "\(queueLimit)",
                ]))
                job.done?(nil)
            }
        }
    }

    /// Runs the scripts until cancelled: `concurrency` workers, each taking admitted jobs and
    /// then what waits behind them.
    public func run() async {
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                for _ in 0..<concurrency {
                    group.addTask { while let job = await self.nextAdmitted() { await self.work(from: job) } }
                }
            }
        } onCancel: {
            stop()
        }
    }

    /// An admitted job, waiting for one; nil once stopped.
    private func nextAdmitted() async -> Job? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Job?, Never>) in
            let job: Job?? = state.withLock { state in
                if state.stopped { return .some(nil) }
                if !state.admitted.isEmpty { return state.admitted.removeFirst() }
                state.idleWorkers.append(continuation)
                return nil
            }
            if let job { continuation.resume(returning: job) }
        }
    }

    /// Wakes idle workers with nothing to do and drops what has not started.
    private func stop() {
        let (workers, dropped, waiters) = state.withLock { state in
            state.stopped = true
            let dropped = state.admitted + state.queue
            state.running -= state.admitted.count
            state.admitted = []
            state.queue = []
            defer { state.idleWorkers = [] }
            let waiters = state.running == 0 ? state.idleWaiters : []
            if state.running == 0 { state.idleWaiters = [] }
            return (state.idleWorkers, dropped, waiters)
        }
        for worker in workers { worker.resume(returning: nil) }
        for job in dropped {
            metrics.handlerRan(event: job.invocation.event, result: .dropped, seconds: nil)
            job.done?(nil)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Runs `job`, then whatever waits, until the queue is empty.
    private func work(from job: Job) async {
        var next: Job? = job
        while let job = next {
            let outcome = await runScript(job.script, invocation: job.invocation, timeout: timeout,
                                          outputLimit: Self.outputLimit)
            report(job, outcome)
            job.done?(outcome)
            let (following, waiters) = state.withLock { state -> (Job?, [CheckedContinuation<Void, Never>]) in
                if !state.queue.isEmpty { return (state.queue.removeFirst(), []) }
                state.running -= 1
                guard state.running == 0 else { return (nil, []) }
                defer { state.idleWaiters = [] }
                return (nil, state.idleWaiters)
            }
            for waiter in waiters { waiter.resume() }
            next = following
        }
    }

    private func report(_ job: Job, _ outcome: ScriptOutcome) {
        metrics.handlerRan(event: job.invocation.event, result: outcome.result, seconds: outcome.seconds)
        var metadata = metadata(job, [
            "handler.status": "\(outcome.status)",
            "handler.seconds": "\(outcome.seconds)",
            "handler.output": "\(String(decoding: outcome.output, as: UTF8.self))",
        ])
        if let pid = outcome.pid { metadata["handler.pid"] = "\(pid)" }
        if outcome.truncated > 0 { metadata["handler.output_dropped_bytes"] = "\(outcome.truncated)" }
        switch outcome.result {
        case .ok: logger.debug("event handler finished", metadata: metadata)
        case .failed: logger.warning("event handler failed", metadata: metadata)
        case .timeout: logger.warning("event handler timed out, process group killed", metadata: metadata)
        case .dropped: preconditionFailure("a script that ran is never dropped")
        }
    }

    private func metadata(_ job: Job, _ extra: Logger.Metadata) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["handler.event": "\(job.invocation.event.rawValue)", "handler.script": "\(job.script)"]
        if let name = job.invocation.name { metadata["handler.name"] = "\(name)" }
        return metadata.merging(extra) { $1 }
    }
}
