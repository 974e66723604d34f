import Gossip
import Testing

extension GossipRuntimeTests {
    /// Tried as a newcomer would: every public call answers promptly in every lifecycle state,
    /// doing its job or throwing a clear error (a second `stop()` used to hang for ever on an
    /// event loop that had been shut down).
    @Test("every call answers before start, while running, and after stop or leave")
    func everyCallAnswersInEveryState() async throws {
        let node = try GossipNode(configuration: config("lifecycle"))
        await #expect(throws: GossipError.notRunning) { try await node.setTags(["k": "v"]) }
        await #expect(throws: GossipError.notRunning) { try await node.join([loopback]) }

        #expect(node.localMember == nil)
        try await node.start()
        #expect(node.localMember?.address == (try await node.statistics().address), "the picked port, without statistics()")
        #expect(node.localMember?.address.port != 0)
        await #expect(throws: GossipError.alreadyStarted) { try await node.start() }
        try await node.setTags(["role": "web"])
        #expect(node.members.first { $0.name == "lifecycle" }?.tags["role"] == "web", "taken once setTags returns")
        await #expect(throws: GossipError.tagsTooLarge) {
            try await node.setTags(Tags((0..<65).map { (key: "k\($0)", value: "v") }))
        }

        await node.stop()
        await node.stop()
        await node.leave()
        _ = try await node.statistics()
        await #expect(throws: GossipError.notRunning) { try await node.setTags(["k": "v"]) }
        await #expect(throws: GossipError.notRunning) { try await node.join([loopback]) }
        await #expect(throws: GossipError.alreadyStarted) { try await node.start() }

        let leaver = try GossipNode(configuration: config("leaver"))
        try await leaver.start()
        await leaver.leave()
        await leaver.leave()
        await leaver.stop()
        await #expect(throws: GossipError.notRunning) { try await leaver.setTags(["k": "v"]) }
    }
}
