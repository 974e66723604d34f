import GossipCore
import GossipSimulator
import Testing

/// The scenarios the membership core must pass, each over a few fixed seeds. Every failure
/// prints the seed and the command line that replays it.
@Suite struct ScenarioTests {
    static let seeds: [UInt64] = [1, 2, 3]

    static func options(nodes: Int, seed: UInt64, seconds: Int64) -> ScenarioOptions {
        var o = ScenarioOptions()
        o.nodes = nodes
        o.seed = seed
        o.duration = .seconds(seconds)
        return o
    }

    static func replay(_ r: ScenarioReport) -> Comment {
        "\(r.summary())\nreplay: swift run -c release \(r.replayCommand)"
    }

    @Test(arguments: seeds)
    func aThousandNodesJoinThroughThreeSeeds(seed: UInt64) throws {
        let r = try Scenario.join.run(Self.options(nodes: 1000, seed: seed, seconds: 60))
        let everyoneSeesEveryone = r.converged && r.metrics.convergedNodes == 1000
        #expect(everyoneSeesEveryone, Self.replay(r))
        let live = r.metrics.liveTotal
        #expect(live == 1000, Self.replay(r))
        let falsePositives = r.falsePositives
        #expect(falsePositives == 0, Self.replay(r))
        let largest = r.metrics.largestPacket
        #expect(largest <= 1400, Self.replay(r))
    }

    @Test(arguments: seeds)
    func aCrashedMemberIsDeclaredDeadByEveryLiveMember(seed: UInt64) throws {
        let r = try Scenario.crash.run(Self.options(nodes: 100, seed: seed, seconds: 120))
        let detected = r.lastDetection != nil
        #expect(detected, Self.replay(r))
        let falsePositives = r.falsePositives
        #expect(falsePositives == 0, Self.replay(r))
        let converged = r.converged
        #expect(converged, Self.replay(r))
    }

    @Test(arguments: seeds)
    func aLeftMemberIsReportedAsLeftNotFailed(seed: UInt64) throws {
        let r = try Scenario.leave.run(Self.options(nodes: 100, seed: seed, seconds: 60))
        let reportedLeft = r.reportedLeft
        #expect(reportedLeft == 99, Self.replay(r))
        let reportedFailed = r.reportedFailed
        #expect(reportedFailed == 0, Self.replay(r))
        let failed = r.metrics.failedEvents
        #expect(failed == 0, Self.replay(r))
        let converged = r.converged
        #expect(converged, Self.replay(r))
    }

    @Test(arguments: seeds)
    func aHalvedClusterHealsAfterThePartition(seed: UInt64) throws {
        var o = Self.options(nodes: 100, seed: seed, seconds: 120)
        o.partitionLength = .seconds(60)
        let r = try Scenario.partition.run(o)
        let healed = r.healTime != nil
        #expect(healed, Self.replay(r))
        let converged = r.converged
        #expect(converged, Self.replay(r))
    }

    @Test(arguments: seeds)
    func fivePercentLossGivesNoFalsePositivesWithLifeguard(seed: UInt64) throws {
        var o = Self.options(nodes: 100, seed: seed, seconds: 600)
        o.loss = 0.05
        let r = try Scenario.loss.run(o)
        let falsePositives = r.falsePositives
        #expect(falsePositives == 0, Self.replay(r))
        let converged = r.converged
        #expect(converged, Self.replay(r))
    }

    /// The slow node lags 6 s per input on average. At the default 3 s, since a probe accuses
    /// only the life it probed (`ProbeEvidenceTests`), neither configuration gives a false
    /// positive worth comparing (seed 1: 1 with Lifeguard, 0 without; 34 and 427 before).
    @Test(arguments: seeds)
    func lifeguardReducesFalsePositivesAroundASlowNode(seed: UInt64) throws {
        var o = Self.options(nodes: 100, seed: seed, seconds: 600)
        o.loss = 0.05
        o.slowDelay = .seconds(6)
        o.lifeguard = true
        let on = try Scenario.slow.run(o)
        o.lifeguard = false
        let off = try Scenario.slow.run(o)
        #expect(on.falsePositives < off.falsePositives, "\(Self.replay(on))\n\(Self.replay(off))")
    }

    @Test func theReplayLineCarriesEveryOptionThatChangesTheRun() {
        var o = Self.options(nodes: 40, seed: 9, seconds: 90)
        o.loss = 0.05
        o.lifeguard = false
        o.partitionLength = .seconds(12)
        o.slowDelay = .milliseconds(250)
        o.joinSpread = .seconds(20)
        func line(_ s: Scenario) -> String { s.replayCommand(o) }
        let common = "--nodes 40 --seed 9 --duration 90.0 --loss 0.05 --no-lifeguard --join-seconds 20.0"
        #expect(line(.partition) == "grapevine-sim partition \(common) --partition-seconds 12.0")
        #expect(line(.slow) == "grapevine-sim slow \(common) --slow-ms 250.0")
        #expect(line(.crash) == "grapevine-sim crash \(common)")
    }

    @Test func theSameSeedGivesTheSameTrace() throws {
        var o = Self.options(nodes: 100, seed: 42, seconds: 60)
        o.loss = 0.05
        let a = try Scenario.crash.run(o)
        let b = try Scenario.crash.run(o)
        #expect(a.traceHash == b.traceHash)
        #expect(a.events == b.events)
        o.seed = 43
        let c = try Scenario.crash.run(o)
        #expect(c.traceHash != a.traceHash)
    }
}
