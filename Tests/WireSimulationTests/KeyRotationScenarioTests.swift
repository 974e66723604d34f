import GossipCore
import GossipSimulator
import GossipWire
import NIOCore
import Testing

/// `serf keys` on 1,000 simulated members: every datagram and push/pull frame is sealed with
/// the sender's own keyring and opened with the receiver's (real libsodium), and each member
/// answers the internal key queries the way the runtime does (`Keyring.apply`, `KeyResponse`).
/// A rotation (install the new key, use it, remove the old) completes on every live member,
/// while a member crashes and is detected and the cluster stays converged.
@Suite struct KeyRotationScenarioTests {
    /// One keyring per member, and codecs made from it.
    final class Keyrings {
        var rings: [Keyring]
        var packets: [PacketCodec]
        var streams: [StreamCodec]
        var buffer = ByteBufferAllocator().buffer(capacity: 2048)
        var streamBuffer = ByteBufferAllocator().buffer(capacity: 1 << 16)
        var refused = 0

        init(count: Int, key: SecretKey) {
            rings = Array(repeating: Keyring(primary: key), count: count)
            packets = rings.map { PacketCodec(keyring: $0) }
            streams = rings.map { StreamCodec(keyring: $0) }
        }

        func set(_ i: Int, _ ring: Keyring) {
            rings[i] = ring
            packets[i].keyring = ring
            streams[i].keyring = ring
        }

        func install(on sim: Simulation) {
            sim.linkTransport = { from, to, messages in
                self.buffer.clear()
                guard (try? self.packets[from].encode(messages, into: &self.buffer, budget: 1400)) != nil else { return nil }
                var out: [Message] = []
                guard self.packets[to].decode(&self.buffer, into: &out) else {
                    self.refused += 1
                    return nil
                }
                return out
            }
            sim.linkStreamTransport = { from, to, message in
                self.streamBuffer.clear()
                guard (try? self.streams[from].encode(.stream(message), into: &self.streamBuffer)) != nil,
                    case .item(.stream(let m))? = try? self.streams[to].decode(&self.streamBuffer)
                else {
                    self.refused += 1
                    return nil
                }
                return m
            }
        }
    }

    /// What the asker of one key step heard.
    struct Step {
        var ok: Set<String> = []
        var failed: Set<String> = []
        var end: QueryEnd?
    }

    @Test(arguments: [1, 2] as [UInt64])
    func aRotationCompletesOnEveryLiveMemberWhileACrashIsDetected(seed: UInt64) throws {
        let n = 1_000
        let old = SecretKey.random()
        let new = SecretKey.random()
        let keyrings = Keyrings(count: n, key: old)
        var settings = Settings()
        settings.packetOverhead = keyrings.packets[0].overhead
        let sim = Simulation(seed: seed, settings: settings, network: NetworkModel(loss: 0.05))
        keyrings.install(on: sim)
        let nodes = try sim.addFormedCluster(count: n)
        var steps: [QueryID: Step] = [:]
        sim.observeApplication { i, o in
            switch o {
            case .query(let q):
                guard let op = KeyOperation.allCases.first(where: { $0.queryName == q.name }) else { return }
                var payload = ByteBuffer(bytes: q.payload)
                var ring = keyrings.rings[i]
                let response: KeyResponse
                if let request = try? KeyRequest.decode(&payload), request.operation == op, (try? ring.apply(request)) != nil {
                    keyrings.set(i, ring)
                    response = KeyResponse(ok: true, keys: ring.keys.map(\.fingerprint))
                } else {
                    response = KeyResponse(ok: false, message: "refused", keys: ring.keys.map(\.fingerprint))
                }
                var out = ByteBuffer()
                response.encode(into: &out)
                sim.respond(i, to: q.responder, payload: Array(out.readableBytesView))
            case .queryResponse(let id, let from, let payload):
                var b = ByteBuffer(bytes: payload)
                if let r = try? KeyResponse.decode(&b), r.ok { steps[id, default: Step()].ok.insert(from) } else {
                    steps[id, default: Step()].failed.insert(from)
                }
            case .queryFinished(let id, let end): steps[id, default: Step()].end = end
            default: break
            }
        }
        sim.run(for: .seconds(5))

        func step(_ request: KeyRequest, from asker: Int) -> Step {
            var payload = ByteBuffer()
            request.encode(into: &payload)
            let id = sim.query(
                asker,
                QueryRequest(
                    name: request.operation.queryName, payload: Array(payload.readableBytesView), timeout: .seconds(30),
                    wantsAcks: false, relayFactor: QueryRequest.maxRelayFactor))
            _ = sim.run(upTo: .seconds(40)) { steps[id]?.end != nil }
            return steps[id] ?? Step()
        }
        let everyone = Set(nodes.map { sim.name(of: $0) })

        let install = step(.install(new), from: 0)
        #expect(install.ok == everyone, "seed \(seed): \(everyone.subtracting(install.ok).count) did not install")
        #expect(install.end == .allResponded)

        // A member crashes just as the new key is put to use.
        let crashed = 500
        sim.crash(crashed)
        let use = step(.use(new), from: 1)
        let live = everyone.subtracting([sim.name(of: crashed)])
        #expect(use.ok == live, "seed \(seed): \(live.subtracting(use.ok).count) did not switch")
        #expect(use.failed.isEmpty)

        let remove = step(.remove(old), from: 2)
        #expect(remove.ok == live, "seed \(seed): \(live.subtracting(remove.ok).count) did not remove")

        // Every live member holds the new key alone; the cluster goes on: the crash is detected
        // everywhere and nothing sealed by a live member is refused by another.
        for i in nodes where i != crashed { #expect(keyrings.rings[i].keys == [new], "node-\(i)") }
        let refusedBefore = keyrings.refused
        #expect(
            sim.run(upTo: .seconds(120)) {
                nodes.allSatisfy { $0 == crashed || sim.core($0).member(named: sim.name(of: crashed))?.status == .failed }
            }, "seed \(seed): the crash was not detected everywhere")
        sim.run(for: .seconds(30))
        #expect(keyrings.refused == refusedBefore, "seed \(seed): live members refused each other's packets after the rotation")
        for i in nodes where i != crashed { #expect(sim.core(i).liveCount == n - 1) }
    }
}
