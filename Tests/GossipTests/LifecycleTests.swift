@testable import Gossip
import GossipCore
import GossipWire
import Logging
import ServiceLifecycle
import Testing

/// Tried as a newcomer would: every public call answers promptly in every lifecycle state,
/// doing its job or throwing a clear error. Each call is bounded, so a hang (a second `stop()`
/// once hung for ever on an event loop that had been shut down) fails the test instead of
/// blocking the run.
@Suite("every public call in every lifecycle state")
struct LifecycleTests {
    enum State: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case neverStarted, running, leaving, left, stopped
        var testDescription: String { rawValue }
    }

    enum Call: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case start, joinAddress, joinHostName, leave, stop, statistics, setTags, events, members, run
        var testDescription: String { rawValue }
    }

    /// A node in `state`, and a running peer it joined (for the states that need a cluster).
    struct Setup {
        var node: GossipNode
        var peer: GossipNode
        var peerAddress: Address
    }

    static func setUp(_ state: State, _ name: String) async throws -> Setup {
        // On 127.0.0.1, where `localhost` resolves (`joinHostName`).
        let peer = try GossipNode(configuration: config("\(name)-peer", at: Address(ipv4: 0x7f00_0001, port: 0)))
        let peerAddress = try await peer.start().address
        var c = config(name)
        if state == .leaving {
            // Slow gossip keeps the departure pending for seconds: long enough to call into.
            c.settings.gossipInterval = .seconds(2)
            c.settings.leavePropagationTimeout = .seconds(30)
        }
        let node = try GossipNode(configuration: c)
        switch state {
        case .neverStarted:
            break
        case .running, .leaving:
            try await node.start()
            try await node.join([peerAddress])
            if state == .leaving {
                await node.beginLeave()
                #expect(await node.phase() == "leaving")
            }
        case .left:
            try await node.start()
            try await node.join([peerAddress])
            await node.leave()
        case .stopped:
            try await node.start()
            await node.stop()
        }
        return Setup(node: node, peer: peer, peerAddress: peerAddress)
    }

    @Test(arguments: State.allCases, Call.allCases)
    func callAnswers(_ state: State, _ call: Call) async throws {
        let name = "\(state)-\(call)"
        let setup = try await Self.setUp(state, name)
        let node = setup.node
        let runs = state == .running
        let answered = await bounded("\(call) in \(state)") {
            switch call {
            case .start:
                if state == .neverStarted {
                    let started = try? await node.start()
                    #expect(started?.rejoining == 0 && started?.snapshotFound == false)
                    #expect(started?.address.port != 0)
                } else {
                    await #expect(throws: GossipError.alreadyStarted) { try await node.start() }
                }
            case .joinAddress:
                if runs {
                    #expect(try await node.join([setup.peerAddress]) == 1)
                } else {
                    await #expect(throws: GossipError.notRunning) { try await node.join([setup.peerAddress]) }
                }
            case .joinHostName:
                let seed = "localhost:\(setup.peerAddress.port)"
                if runs {
                    #expect(try await node.join([seed]) == 1, "localhost resolves to the peer's 127.0.0.1")
                } else {
                    await #expect(throws: GossipError.notRunning) { try await node.join([seed]) }
                }
            case .leave:
                await node.leave()
                #expect(await node.phase() == "stopped")
            case .stop:
                await node.stop()
                #expect(await node.phase() == "stopped")
                await node.stop()
            case .statistics:
                let stats = await node.statistics()
                #expect(stats.address.port != 0 || state == .neverStarted)
            case .setTags:
                if runs {
                    try await node.setTags(["role": "web"])
                    #expect(node.localMember?.tags["role"] == "web", "taken once setTags returns")
                } else {
                    await #expect(throws: GossipError.notRunning) { try await node.setTags(["role": "web"]) }
                }
            case .events:
                var events = await node.events().makeAsyncIterator()
                switch state {
                case .neverStarted:
                    await node.stop()
                    #expect(await events.next() == nil, "ends when the node stops")
                case .running:
                    guard case .event(let first)? = await events.next() else {
                        Issue.record("no first event")
                        return
                    }
                    #expect(first.kind == .joined)
                case .leaving:
                    #expect(await events.next() != nil, "the live peer, as joined")
                case .left, .stopped:
                    #expect(await events.next() == nil, "a stopped node's sequence ends at once")
                }
            case .members:
                #expect(node.members.isEmpty == (state == .neverStarted))
                #expect((node.localMember == nil) == (state == .neverStarted))
            case .run:
                switch state {
                case .left, .stopped:
                    try await node.run()
                case .neverStarted, .running, .leaving:
                    // Runs until the node stops, whoever stops it.
                    async let running: Void = node.run()
                    await node.stop()
                    try await running
                }
                #expect(await node.phase() == "stopped")
            }
        }
        #expect(answered, "\(call) did not answer in state \(state)")
        // Whatever the call did, the node still answers, and stops cleanly.
        await node.stop()
        await setup.peer.stop()
        #expect(await node.held() == ["connections": 0, "timers": 0, "awaitingReply": 0, "joins": 0, "channels": 0])
    }

    @Test("after a ServiceGroup returned, every call still answers")
    func afterServiceGroup() async throws {
        let node = try GossipNode(configuration: config("grouped"))
        let group = ServiceGroup(services: [node], gracefulShutdownSignals: [], logger: quietLogger)
        async let running: Void = group.run()
        try await waitUntil(node, "started") { $0.count == 1 }
        await group.triggerGracefulShutdown()
        try await running
        #expect(await node.phase() == "stopped", "graceful shutdown left the cluster")
        let answered = await bounded("calls after the group") {
            await node.leave()
            await node.stop()
            _ = await node.statistics()
            await #expect(throws: GossipError.notRunning) { try await node.join(["localhost:1"]) }
            await #expect(throws: GossipError.notRunning) { try await node.setTags(["k": "v"]) }
            await #expect(throws: GossipError.alreadyStarted) { try await node.start() }
        }
        #expect(answered)
    }

    @Test("stop, then start, on a node never started: a clear error, no crash")
    func stopThenStart() async throws {
        let node = try GossipNode(configuration: config("stop-start"))
        await node.stop()
        await #expect(throws: GossipError.alreadyStarted) { try await node.start() }
        await #expect(throws: GossipError.tagsTooLarge) {
            try await node.setTags(Tags((0..<65).map { (key: "k\($0)", value: "v") }))
        }
    }
}

/// Runs `body`; false if it did not finish within `timeout` (the body is then cancelled).
func bounded(_ what: String, timeout: Duration = .seconds(20), _ body: @escaping @Sendable () async throws -> Void) async -> Bool {
    await firstTrue(within: timeout) {
        do { try await body() } catch { Issue.record(error, "\(what)") }
        return true
    }
}
