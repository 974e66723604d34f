public import ArgumentParser
import Foundation
import GossipCore
import GossipSimulator

extension Scenario: ExpressibleByArgument {}

@main
struct GrapevineSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grapevine-sim",
        abstract: "Runs a simulated Grapevine cluster on virtual time and reports what happened.")

    @Argument(help: "The scenario to run.") var scenario: Scenario = .join

    @Option(help: "Number of nodes.") var nodes = 100
    @Option(help: "Master seed; the same seed gives the same trace.") var seed: UInt64 = 1
    @Option(help: "Virtual seconds to run.") var duration = 60.0
    @Option(help: "Packet loss on every link, 0 to 1.") var loss = 0.0
    @Flag(inversion: .prefixedNo, help: "Lifeguard extensions.") var lifeguard = true
    @Option(help: "Partition length in virtual seconds (partition scenario).") var partitionSeconds = 60.0
    @Option(help: "Mean lag per input of the slow node, in milliseconds (slow scenario).")
    var slowMs = 3000.0
    @Option(help: "Virtual seconds the paused node stays stopped (pause scenario).") var pauseSeconds = 7.0
    @Option(help: "Virtual seconds over which the nodes join, evenly spread (a rolling deploy when long).")
    var joinSeconds = 5.0
    @Flag(help: "Start from a formed cluster (every node knows every other alive, no joins); --join-seconds is unused.")
    var formed = false
    @Option(help: "Write samples as CSV to this file.") var csv: String?
    @Option(help: "Write an SVG chart to this file.") var svg: String?
    @Option(
        help: "Sample interval in virtual seconds (0.5 with --csv or --svg); sampling also reports the largest bytes of member tables and queues.")
    var sampleEvery: Double?

    mutating func run() throws {
        guard nodes >= 1, nodes <= 100_000 else { throw ValidationError("--nodes must be 1 to 100000") }
        guard loss >= 0, loss < 1 else { throw ValidationError("--loss must be in [0, 1)") }
        guard duration > 0 else { throw ValidationError("--duration must be positive") }
        guard joinSeconds >= 0 else { throw ValidationError("--join-seconds must not be negative") }
        var options = ScenarioOptions()
        options.nodes = nodes
        options.seed = seed
        options.duration = .milliseconds(Int64(duration * 1000))
        options.loss = loss
        options.lifeguard = lifeguard
        options.slowDelay = .microseconds(Int64(slowMs * 1000))
        options.partitionLength = .milliseconds(Int64(partitionSeconds * 1000))
        options.pauseLength = .milliseconds(Int64(pauseSeconds * 1000))
        options.joinSpread = .milliseconds(Int64(joinSeconds * 1000))
        options.formed = formed
        if let every = sampleEvery ?? (csv != nil || svg != nil ? 0.5 : nil) {
            guard every > 0 else { throw ValidationError("--sample-every must be positive") }
            options.sampleEvery = .milliseconds(Int64(every * 1000))
        }
        let started = ContinuousClock.now
        let report = try scenario.run(options)
        let wall = ContinuousClock.now - started
        print(report.summary(wall: wall))
        print("replay: \(report.replayCommand)")
        if let csv { try Chart.csv(report.samples).write(toFile: csv, atomically: true, encoding: .utf8) }
        if let svg {
            try Chart.svg(report.samples, title: "\(scenario.rawValue), \(nodes) nodes, seed \(seed)").write(toFile: svg, atomically: true, encoding: .utf8)
        }
    }
}
