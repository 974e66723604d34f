import GossipCore
import GossipSimulator
import GossipWire
import NIOCore
import Testing

/// The core's scenarios again, with every simulated datagram and every push/pull frame
/// encoded, sealed with XChaCha20-Poly1305 under a cluster label, opened and decoded on the way:
/// the byte budget and both codecs are exercised by everything the protocol sends.
@Suite struct SealedScenarioTests {
    /// Seals and opens with real libsodium, and remembers the largest datagram on the wire.
    final class SealedTransport {
        let codec: PacketCodec
        var receiver: PacketCodec
        let streamCodec: StreamCodec
        var streamReceiver: StreamCodec
        var buffer = ByteBufferAllocator().buffer(capacity: 2048)
        var streamBuffer = ByteBufferAllocator().buffer(capacity: 1 << 16)
        var largest = 0
        var failures = 0
        var streams = 0

        init() {
            let keyring = Keyring(primary: SecretKey.random())
            let label = ClusterLabel("sim-cluster") ?? .none
            codec = PacketCodec(keyring: keyring, label: label)
            receiver = PacketCodec(keyring: keyring, label: label)
            streamCodec = StreamCodec(keyring: keyring, label: label)
            streamReceiver = StreamCodec(keyring: keyring, label: label)
        }

        /// Lets `sim` carry every datagram and stream message through this transport.
        func install(on sim: Simulation) {
            sim.transport = { _, messages in self.carry(messages) }
            sim.streamTransport = { _, message in self.carry(message) }
        }

        /// One stream frame, sealed and opened: the decoded message, or nil (counted) when the
        /// codecs disagree.
        func carry(_ message: StreamMessage) -> StreamMessage? {
            streamBuffer.clear()
            do {
                try streamCodec.encode(.stream(message), into: &streamBuffer)
                guard case .item(.stream(let decoded)) = try streamReceiver.decode(&streamBuffer),
                    streamBuffer.readableBytes == 0
                else {
                    failures += 1
                    return nil
                }
                streams += 1
                return decoded
            } catch {
                failures += 1
                return nil
            }
        }

        func carry(_ messages: [Message]) -> [Message]? {
            do {
                try codec.encode(messages, into: &buffer, budget: 1400)
            } catch {
                failures += 1
                return nil
            }
            largest = max(largest, buffer.readableBytes)
            var decoded: [Message] = []
            guard receiver.decode(&buffer, into: &decoded) else {
                failures += 1
                return nil
            }
            return decoded
        }
    }

    static let cases: [(Scenario, Int, Int64)] = [
        (.join, 1000, 60), (.crash, 100, 90), (.loss, 100, 600), (.partition, 100, 120), (.leave, 100, 60),
    ]

    @Test(arguments: 0..<cases.count)
    func scenarioPassesWithSealedBytes(case i: Int) throws {
        let (scenario, nodes, seconds) = Self.cases[i]
        let transport = SealedTransport()
        var o = ScenarioOptions()
        o.nodes = nodes
        o.seed = 1
        o.duration = .seconds(seconds)
        if scenario == .loss { o.loss = 0.05 }
        o.settings.packetOverhead = transport.codec.overhead
        let r = try scenario.run(o) { transport.install(on: $0) }
        let replay = Comment(rawValue: "\(r.summary())\nreplay: swift test -c release --filter SealedScenarioTests (scenario \(scenario.rawValue), seed 1)")
        let (converged, fp, drops) = (r.converged, r.falsePositives, r.metrics.wireDrops)
        #expect(transport.failures == 0, replay)
        #expect(drops == 0, replay)
        let streams = transport.streams
        #expect(streams > 0, "push/pull crossed the stream codec")
        #expect(streams <= r.metrics.streamsSent, replay)
        #expect(transport.largest <= 1400, replay)
        #expect(transport.largest > 1000, "gossip fills datagrams close to the budget")
        #expect(converged, replay)
        if scenario != .partition { #expect(fp == 0, replay) }
        switch scenario {
        case .crash: #expect(r.lastDetection != nil, replay)
        case .partition: #expect(r.healTime != nil, replay)
        case .leave: #expect(r.reportedLeft == nodes - 1, replay)
        default: break
        }
    }

    @Test func packetsSealedForAnotherClusterAreDroppedInTheSimulation() throws {
        let ours = Keyring(primary: SecretKey.random())
        let codec = PacketCodec(keyring: ours, label: ClusterLabel("blue") ?? .none)
        var theirs = PacketCodec(keyring: ours, label: ClusterLabel("green") ?? .none)
        var buffer = ByteBufferAllocator().buffer(capacity: 2048)
        var o = ScenarioOptions()
        o.nodes = 10
        o.duration = .seconds(60)
        o.settings.packetOverhead = codec.overhead
        let r = try Scenario.join.run(o) { sim in
            sim.transport = { _, messages in
                guard (try? codec.encode(messages, into: &buffer, budget: 1400)) != nil else { return nil }
                var decoded: [Message] = []
                return theirs.decode(&buffer, into: &decoded) ? decoded : nil
            }
        }
        let (converged, drops) = (r.converged, r.metrics.wireDrops)
        #expect(!converged, "no datagram crosses between clusters, so probes cannot succeed")
        #expect(drops > 0)
        #expect(theirs.counters.totalDrops == drops)
    }
}

@Suite struct StreamAccountingTests {
    /// The simulator counts a stream frame as the real codec writes it: its sealed frame
    /// overhead is the codec's, and the rest is the message's size from its one layout.
    @Test func theSimulatorCountsTheBytesTheCodecWrites() throws {
        let key = SecretKey.random()
        let codec = StreamCodec(keyring: Keyring(primary: key))
        #expect(Simulation(seed: 1).streamFrameOverhead == codec.overhead)
        let message = StreamMessage.pushPull(
            PushPull(
                join: true, isReply: false, sender: "a", senderAddress: Address(ipv4: 0x0A00_0001, port: 7946),
                members: (0..<50).map {
                    MemberState(
                        name: "node-\($0)", address: Address(ipv4: 0x0A00_0000 + UInt32($0), port: 7946), incarnation: 3,
                        status: .alive, tags: ["role": "vtep"])
                }))
        var frame = ByteBuffer()
        try codec.encode(.stream(message), into: &frame)
        #expect(frame.readableBytes == codec.overhead + message.encodedSize)
    }
}
