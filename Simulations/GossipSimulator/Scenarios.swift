public import GossipCore

/// Ready-made scenarios: the ones the tests assert on and `grapevine-sim` runs by name.
public enum Scenario: String, CaseIterable, Sendable {
    /// N nodes join through 3 seeds; measures the time until every node sees every other.
    case join
    /// A converged cluster loses one node to a crash; measures detection time and false positives.
    case crash
    /// Packet loss on every link for the whole run, no crash: counts false positives.
    case loss
    /// Like `loss`, with one node slow to handle its inputs (the case Lifeguard exists for).
    case slow
    /// The cluster is cut in two halves for a while, then healed; measures the time to heal.
    case partition
    /// One member leaves gracefully; every other must report it as left, not failed.
    case leave
    /// One member stops handling anything for `pauseLength` (SIGSTOP, a long GC pause), its
    /// input queued meanwhile, then resumes; no member may report it failed.
    case pause
}

public struct ScenarioOptions: Sendable {
    public var nodes = 100
    public var seed: UInt64 = 1
    public var duration: Duration = .seconds(60)
    public var lifeguard = true
    public var loss = 0.0
    /// How long the partition scenario keeps the halves apart.
    public var partitionLength: Duration = .seconds(60)
    /// Mean lag per input of the slow node (lags are uniform in [0, 2 * slowDelay)).
    public var slowDelay: Duration = .seconds(3)
    /// How long the pause scenario's member stays stopped.
    public var pauseLength: Duration = .seconds(7)
    /// The joins are spread evenly over this much virtual time from the start (a rolling deploy
    /// when long; a join storm when short).
    public var joinSpread: Duration = .seconds(5)
    /// Start from a formed cluster (`Simulation.addFormedCluster`): every node knows every
    /// other alive at time zero, with no joins, so `joinSpread` is unused. The steady state of
    /// a large cluster, without the join storm that bounds the size of a run from nothing.
    public var formed = false
    /// Sample interval for charts; zero for none.
    public var sampleEvery: Duration = .zero
    public var settings = Settings()

    public init() {}
}

public struct ScenarioReport: Sendable {
    public var scenario: Scenario
    public var options: ScenarioOptions
    /// Virtual time from the first join until every node saw every other alive, if it happened.
    public var convergence: Duration?
    /// Virtual time from the crash to the first and the last detection.
    public var firstDetection: Duration?
    public var lastDetection: Duration?
    /// Virtual time from healing the partition until the cluster converged again.
    public var healTime: Duration?
    /// In the leave scenario: how many live nodes report the departed node as left (and as failed).
    public var reportedLeft = 0
    public var reportedFailed = 0
    /// In the pause scenario: how many nodes suspected the paused node, and how many of those
    /// raised a suspicion themselves during the run (their own probe failed; in a quiet cluster
    /// that is of the paused node) rather than only learning it by gossip.
    public var suspectedBy = 0
    public var raisedBy = 0
    public var falsePositives: Int
    public var suspicions: Int
    public var converged: Bool
    public var virtualTime: Duration
    public var metrics: SimulationMetrics
    public var samples: [Sample]
    public var traceHash: UInt64
    public var events: Int
    /// Bytes of the nodes' member tables and broadcast queues at the end (`Simulation.footprint`).
    public var tableBytes = 0
    public var queueBytes = 0
    /// The same at the largest sample, when samples were taken (`Simulation.peakFootprint`).
    public var peakTableBytes = 0
    public var peakQueueBytes = 0

    /// Bytes and messages per node per virtual second.
    public var bytesPerNodeSecond: Double {
        Double(metrics.bytesSent + metrics.streamBytesSent) / Double(options.nodes) / virtualSeconds
    }

    public var packetsPerNodeSecond: Double {
        Double(metrics.packetsSent) / Double(options.nodes) / virtualSeconds
    }

    var virtualSeconds: Double { Double(virtualTime.nanoseconds) / 1e9 }

    /// The `grapevine-sim` command line that replays this run.
    public var replayCommand: String { scenario.replayCommand(options) }

    static func seconds(_ d: Duration) -> Double { Double(d.nanoseconds) / 1e9 }
}

extension Scenario {
    /// The `grapevine-sim` command line that runs this scenario with `options`: every option
    /// that changes the trace. `options.settings` has no command-line form; a run with settings
    /// other than the defaults replays only from code, and the line says so.
    public func replayCommand(_ options: ScenarioOptions) -> String {
        typealias R = ScenarioReport
        var line = "grapevine-sim \(rawValue) --nodes \(options.nodes) --seed \(options.seed)"
        line += " --duration \(R.seconds(options.duration)) --loss \(options.loss)"
        if !options.lifeguard { line += " --no-lifeguard" }
        if options.formed { line += " --formed" }
        if !options.formed, options.joinSpread != ScenarioOptions().joinSpread { line += " --join-seconds \(R.seconds(options.joinSpread))" }
        if self == .partition { line += " --partition-seconds \(R.seconds(options.partitionLength))" }
        if self == .slow { line += " --slow-ms \(Double(options.slowDelay.nanoseconds) / 1e6)" }
        if self == .pause { line += " --pause-seconds \(R.seconds(options.pauseLength))" }
        if options.settings != Settings() { line += "  # with custom Settings" }
        return line
    }

    /// Builds a cluster of `options.nodes`: node 0 starts alone, the next two join it, the rest
    /// join through the first three (the seeds) within the first `options.joinSpread`.
    /// With `options.formed`, the nodes form a cluster at once instead.
    static func bootCluster(_ sim: Simulation, _ options: ScenarioOptions) throws(SimulationError) {
        if options.formed {
            try sim.addFormedCluster(count: options.nodes)
            return
        }
        let spread = options.joinSpread
        for _ in 0..<options.nodes { try sim.addNode() }
        let seeds = Array(0..<min(3, options.nodes))
        for i in 1..<max(options.nodes, 1) {
            let delay = Duration.nanoseconds(spread.nanoseconds * Int64(i) / Int64(max(options.nodes, 1)))
            sim.join(i, through: seeds.filter { $0 != i }, after: delay)
        }
    }

    /// Runs the scenario; `prepare` sees the simulation before any node is added (to set the
    /// transport hooks, observe events...).
    public func run(_ options: ScenarioOptions, prepare: (Simulation) -> Void = { _ in }) throws(SimulationError)
        -> ScenarioReport
    {
        var settings = options.settings
        settings.lifeguard = options.lifeguard
        let network = NetworkModel(loss: options.loss)
        let sim = Simulation(seed: options.seed, settings: settings, network: network)
        prepare(sim)
        if options.sampleEvery > .zero { sim.sample(every: options.sampleEvery) }
        try Self.bootCluster(sim, options)
        let end = options.duration
        var report = ScenarioReport(
            scenario: self, options: options, falsePositives: 0, suspicions: 0, converged: false,
            virtualTime: .zero, metrics: sim.metrics, samples: [], traceHash: 0, events: 0)

        // Every scenario starts by converging; the later phases need a whole cluster.
        let joined = sim.run(upTo: end) { sim.metrics.converged }
        if joined { report.convergence = sim.elapsed }

        switch self {
        case .join, .loss:
            sim.run(for: end - sim.elapsed)
        case .slow:
            sim.slow(options.nodes - 1, meanDelay: options.slowDelay)
            sim.run(for: end - sim.elapsed)
        case .crash:
            let victim = options.nodes / 2
            sim.run(for: .seconds(5))
            sim.crash(victim)
            sim.run(upTo: end - sim.elapsed) { sim.metrics.crashes.last?.lastDetection != nil }
            // At least 10 s after the detection or the end, so that a detection running past
            // the end is still measured.
            sim.run(for: max(end - sim.elapsed, .seconds(10)))
            if let c = sim.metrics.crashes.last {
                report.firstDetection = c.firstDetection.map { .nanoseconds($0 - c.at) }
                report.lastDetection = c.lastDetection.map { .nanoseconds($0 - c.at) }
            }
        case .partition:
            sim.run(for: .seconds(5))
            let half = options.nodes / 2
            sim.partition { $0 < half ? 0 : 1 }
            sim.run(for: options.partitionLength)
            sim.heal()
            let healedAt = sim.elapsed
            if sim.run(upTo: .seconds(600), until: { sim.metrics.converged }) {
                report.healTime = sim.elapsed - healedAt
            }
            sim.run(for: max(end - sim.elapsed, .zero))
        case .pause:
            let paused = options.nodes - 1
            let name = sim.name(of: paused)
            sim.run(for: .seconds(10))
            var suspecting = Set<Int>()
            sim.observeEvents { i, e in
                if e.kind == .suspected, e.member.name == name { suspecting.insert(i) }
            }
            let raisedBefore = (0..<sim.nodeCount).map { sim.core($0).counters.suspicionsRaised }
            sim.pause(paused, for: options.pauseLength)
            sim.run(for: max(end - sim.elapsed, options.pauseLength + .seconds(30)))
            report.suspectedBy = suspecting.count
            report.raisedBy = suspecting.count { sim.core($0).counters.suspicionsRaised > raisedBefore[$0] }
            for v in 0..<sim.nodeCount where v != paused && sim.isRunning(v) {
                if sim.core(v).member(named: name)?.status == .failed { report.reportedFailed += 1 }
            }
        case .leave:
            let leaver = options.nodes / 2
            sim.run(for: .seconds(5))
            sim.leave(leaver)
            sim.run(for: .seconds(30))
            let name = sim.name(of: leaver)
            for v in 0..<sim.nodeCount where v != leaver && sim.isRunning(v) {
                switch sim.core(v).member(named: name)?.status {
                case .left?: report.reportedLeft += 1
                case .failed?: report.reportedFailed += 1
                default: break
                }
            }
        }
        report.converged = sim.metrics.converged
        report.falsePositives = sim.metrics.falsePositives.count
        report.suspicions = sim.metrics.suspicions
        report.virtualTime = sim.elapsed
        report.metrics = sim.metrics
        report.samples = sim.samples
        report.traceHash = sim.traceHash
        report.events = sim.eventsHandled
        (report.tableBytes, report.queueBytes) = sim.footprint
        (report.peakTableBytes, report.peakQueueBytes) = sim.peakFootprint
        return report
    }
}
