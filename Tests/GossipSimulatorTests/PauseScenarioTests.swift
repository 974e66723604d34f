import GossipCore
import GossipSimulator
import Testing

/// A member stopped for 7 s (SIGSTOP) with its input queued, then resumed, is never reported
/// failed (issue 23; Docs/benchmarks/DETECTION.md, "Pause"). With memberlist's timing
/// (`suspicionFloorIntervals` 0) 12 of the first 100 seeds gave a false report at 32 members.
@Suite struct PauseScenarioTests {
    @Test(arguments: [5, 32, 100], Array(UInt64(1)...10))
    func aMemberPausedSevenSecondsIsNeverReportedFailed(nodes: Int, seed: UInt64) throws {
        var o = ScenarioOptions()
        o.nodes = nodes
        o.seed = seed
        o.formed = true
        o.duration = .seconds(50)
        let r = try Scenario.pause.run(o)
        let comment: Comment = "\(r.summary())\nreplay: \(r.replayCommand)"
        #expect(r.suspectedBy > 0, "the pause was noticed: \(comment)")
        #expect(r.falsePositives == 0, comment)
        #expect(r.reportedFailed == 0, comment)
        #expect(r.converged, comment)
    }

    /// The same scenario shows the race the floor removes, so the scenario can fail.
    @Test func withMemberlistsTimingTheRaceIsLostOnSomeSeed() throws {
        var lost = 0
        for seed in UInt64(1)...10 {
            var o = ScenarioOptions()
            o.nodes = 32
            o.seed = seed
            o.formed = true
            o.duration = .seconds(50)
            o.settings.suspicionFloorIntervals = 0
            lost += try Scenario.pause.run(o).falsePositives > 0 ? 1 : 0
        }
        #expect(lost > 0)
    }
}
