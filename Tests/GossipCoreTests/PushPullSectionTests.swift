import GossipCore
import Testing

/// Push/pull as sections over several frames: a join through a seed that knows 10,000 members.
@Suite struct PushPullSectionTests {
    /// The seed's reply to `joiner`'s join request, as the frames a 64 KiB frame cap makes.
    static func joinThroughLargeSeed(learnLimit: Int) throws -> (joiner: Harness, frames: [StreamMessage]) {
        var seedSettings = Settings()
        seedSettings.maxMembers = 20_000
        var seed = try Harness(name: "s", settings: seedSettings)
        for i in 0..<10_000 { seed.learn("m-\(i)") }
        var settings = Settings()
        settings.maxMembers = 20_000
        settings.maxMembersLearnedPerExchange = learnLimit
        var joiner = try Harness(name: "j", settings: settings)
        joiner.feed(.join(seeds: [Harness.address("s")], id: JoinID(raw: 1)))
        let request = try #require(joiner.streams.first)
        seed.outputs.removeAll()
        seed.feed(.stream(from: Harness.address("j"), request.message, conversation: .inbound(1)))
        let reply = try #require(seed.replies.first)
        return (joiner, reply.message.frames(maxBodySize: 64 << 10))
    }

    @Test func aJoinMergesEveryFrameAndCompletesAfterTheLast() throws {
        var (joiner, frames) = try Self.joinThroughLargeSeed(learnLimit: 20_000)
        #expect(frames.count > 1, "10,000 members take more than one 64 KiB frame")
        let conversation = try #require(joiner.streams.first).conversation
        for (k, frame) in frames.enumerated() {
            #expect(joiner.joinOutcomes.isEmpty, "the join completes only with the last frame (at frame \(k))")
            joiner.feed(.stream(from: Harness.address("s"), frame, conversation: conversation))
        }
        #expect(joiner.joinOutcomes == [JoinOutcome(id: JoinID(raw: 1), contacted: 1)])
        #expect(joiner.node.knownMembers.count == 10_002)
        #expect(joiner.node.counters.pushPulls == 1, "one exchange, however many frames")
    }

    @Test func theLearnBudgetHoldsForTheWholeExchangeNotPerFrame() throws {
        var (joiner, frames) = try Self.joinThroughLargeSeed(learnLimit: 1_024)
        let conversation = try #require(joiner.streams.first).conversation
        for frame in frames { joiner.feed(.stream(from: Harness.address("s"), frame, conversation: conversation)) }
        #expect(joiner.node.knownMembers.count == 1 + 1_024)
        #expect(joiner.node.counters.refusals[.exchangeLimit] == 10_001 - 1_024)
    }

    @Test func aConversationCutShortKeepsWhatItMergedAndIsCounted() throws {
        var (joiner, frames) = try Self.joinThroughLargeSeed(learnLimit: 20_000)
        let conversation = try #require(joiner.streams.first).conversation
        joiner.feed(.stream(from: Harness.address("s"), frames[0], conversation: conversation))
        let learned = joiner.node.knownMembers.count
        #expect(learned > 1)
        joiner.feed(.streamFailed(conversation: conversation))
        #expect(joiner.node.counters.incompleteExchanges == 1)
        #expect(joiner.node.knownMembers.count == learned, "what the first frame brought stays")
        #expect(joiner.joinOutcomes.isEmpty, "a seed cut short has not answered; the retry timer decides")
    }

    @Test func unknownSectionsAreSkippedAndCounted() throws {
        var h = try Harness(name: "a")
        let pp = PushPull(
            join: false, isReply: false, sender: "b", senderAddress: Harness.address("b"),
            sections: [
                .unknown(type: 77),
                .members([MemberState(name: "b", address: Harness.address("b"), incarnation: 0, status: .alive, tags: Tags())]),
            ])
        h.feed(.stream(from: Harness.address("b"), .pushPull(pp), conversation: .inbound(1)))
        #expect(h.node.counters.unknownSections == 1)
        #expect(h.node.member(named: "b")?.status == .alive)
        #expect(h.replies.count == 1)
    }
}
