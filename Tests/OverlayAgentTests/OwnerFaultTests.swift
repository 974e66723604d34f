import GrapevineTestSupport
import Addresses
import Foundation
import Gossip
import Logging
import Netlink
import Overlay
@testable import OverlayAgent
import Synchronization
import Testing

/// The agent's owners (`DockerDriver`, `OverlayController`, `EndpointRegistry`,
/// `AllocatorOwner`, `PersistenceQueue`, `KernelWorker`) assembled as `Agent` assembles them,
/// with faults injected at every edge: file writes (`endpoints.json`, `docker.json`,
/// `ipam.json`), gossip publishes, netlink (real, in a namespace the test makes) and dockerd.
/// Many callers drive the plugin's handlers and the control API at once; then, with the
/// faults off, every acknowledged network, endpoint and lease must be on disk and published,
/// every refused call must have left nothing of itself, no address may have been handed out
/// twice, and one reconcile pass must leave the kernel equal to the desired state
/// (issue 20, "Must show"; review round 3, §3 C1, C2, C6).
@Suite(KernelTestGate.trait) struct OwnerFaultTests {
    static let staticVNI = VNI(100)!
    static let slots = 0..<6
    /// Slots whose networks containers use; the others are deleted while they run.
    static let usedSlots = 0..<4
    static func vni(_ slot: Int) -> VNI { VNI(UInt32(5_000 + slot))! }
    static func subnet(_ slot: Int) -> String { "10.1.\(slot).0/24" }
    static let remoteVTEP = IPAddress("192.0.2.2")!

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    func concurrentCallersWithFaultsAtEveryEdgeLoseNothing(seed: UInt64) async throws {
        try await withNamespaces(["owners"]) { names in
            try await withDataDirectory { directory in
                let world = try OwnerWorld(namespace: names[0], directory: directory, seed: seed)
                try await world.running { try await Self.exercise(world, seed: seed) }
            }
        }
    }

    // MARK: the callers

    static func exercise(_ world: OwnerWorld, seed: UInt64) async throws {
        let ledger = Ledger()
        world.faults.set([.disk: 0.2, .rows: 0.2, .netlink: 0.2, .dockerd: 0.25])

        // Networks made while control-API callers add and remove endpoints.
        await withTaskGroup(of: Void.self) { group in
            for slot in slots {
                group.addTask { await createNetwork(world, ledger, slot: slot, attempts: 3, tag: "a") }
            }
            for caller in 0..<16 {
                group.addTask { await controlCaller(world, ledger, caller: caller, seed: seed, round: 0) }
            }
        }
        // Containers come and go on the first networks while the last ones are deleted and
        // control-API callers go on.
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<32 {
                group.addTask { await containers(world, ledger, task: task, seed: seed) }
            }
            for slot in slots where !usedSlots.contains(slot) {
                group.addTask { await deleteNetwork(world, ledger, slot: slot) }
            }
            for caller in 0..<16 {
                group.addTask { await controlCaller(world, ledger, caller: caller, seed: seed, round: 1) }
            }
        }

        let injected = world.faults.injected
        world.faults.off()
        print("owner faults, seed \(seed): injected \(injected.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue)=\($0.value)" }.joined(separator: " ")), calls \(ledger.summary)")
        #expect(injected.values.reduce(0, +) > 0, "faults were injected")
        #expect(ledger.acknowledged > 0 && ledger.refused > 0, "calls were acknowledged and calls were refused")

        // Nothing wedged: a network whose every create failed is made at the first try now.
        for slot in slots where ledger.network(slot) == nil {
            await createNetwork(world, ledger, slot: slot, attempts: 1, tag: "retry")
            #expect(ledger.network(slot) != nil, "the create of slot \(slot) succeeds once the faults stop")
        }

        // Nothing wedged: every live network hands out an address now.
        for (slot, _) in ledger.liveNetworks.sorted(by: { $0.key < $1.key }) {
            do throws(PluginError) {
                let address = try await world.docker.requestAddress(RequestAddressRequest(PoolID: subnet(slot), Address: nil, Options: nil)).Address
                ledger.leased(slot, String(address.prefix { $0 != "/" }))
                await release(world, ledger, slot, String(address.prefix { $0 != "/" }))
            } catch {
                Issue.record("network \(slot) hands out no address once the faults stop: \(error.code) \(error.message)")
            }
        }

        try await world.settle(ledger)
        try await world.check(ledger)
    }

    /// `docker network create`: RequestPool, then CreateNetwork; dockerd stores the network
    /// only when both succeeded.
    static func createNetwork(_ world: OwnerWorld, _ ledger: Ledger, slot: Int, attempts: Int, tag: String) async {
        for attempt in 0..<attempts {
            let id = "net\(tag)\(slot)x\(attempt)"
            do throws(PluginError) {
                _ = try await world.docker.requestPool(RequestPoolRequest(AddressSpace: nil, Pool: subnet(slot), SubPool: nil, Options: nil, V6: nil))
                try await world.docker.createNetwork(try createRequest(id, slot: slot))
                world.dockerd.store(id: id, name: "n\(slot)")
                ledger.created(slot, id: id)
                return
            } catch {
                ledger.refuse("CreateNetwork \(error.code)")
            }
        }
    }

    static func createRequest(_ id: String, slot: Int) throws(PluginError) -> CreateNetworkRequest {
        let json = #"{"NetworkID":"\#(id)","Options":{"com.docker.network.generic":{"vni":"\#(vni(slot).value)"}},"IPv4Data":[{"Pool":"\#(subnet(slot))","Gateway":"10.1.\#(slot).1/24"}]}"#
        do { return try JSONDecoder().decode(CreateNetworkRequest.self, from: Data(json.utf8)) } catch {
            throw PluginError("test", "\(error)")
        }
    }

    /// `docker network rm`: dockerd tells the plugin and forgets the network whatever it answers.
    static func deleteNetwork(_ world: OwnerWorld, _ ledger: Ledger, slot: Int) async {
        guard let id = ledger.network(slot) else { return }
        await world.docker.deleteNetwork(NetworkRequest(NetworkID: id))
        world.dockerd.forget(id: id)
        ledger.deleted(slot)
    }

    /// Three containers, one after the other, as dockerd runs them: RequestAddress,
    /// CreateEndpoint, Join; a failed step undoes the ones before (DeleteEndpoint,
    /// ReleaseAddress). Half of them stay; the others are stopped and removed.
    static func containers(_ world: OwnerWorld, _ ledger: Ledger, task: Int, seed: UInt64) async {
        var random = SplitMix(seed: seed &* 7_919 &+ UInt64(task))
        for k in 0..<3 {
            let slot = usedSlots.randomElement(using: &random)!
            guard let network = ledger.network(slot) else { continue }
            let endpoint = String(format: "%03d%03d%05d", Int(seed % 1_000), task, k) + "feedface"
            let pool = subnet(slot)
            let address: String
            do throws(PluginError) {
                address = try await world.docker.requestAddress(RequestAddressRequest(PoolID: pool, Address: nil, Options: nil)).Address
            } catch {
                ledger.refuse("RequestAddress \(error.code)")
                continue
            }
            let ip = String(address.prefix { $0 != "/" })
            ledger.leased(slot, ip)
            do throws(PluginError) {
                _ = try await world.docker.createEndpoint(CreateEndpointRequest(
                    NetworkID: network, EndpointID: endpoint, Interface: EndpointInterface(Address: address, AddressIPv6: nil, MacAddress: nil)))
            } catch {
                ledger.refuse("CreateEndpoint \(error.code)")
                await release(world, ledger, slot, ip)
                continue
            }
            let request = DockerEndpointRequest(NetworkID: network, EndpointID: endpoint)
            do throws(PluginError) { _ = try await world.docker.join(request) } catch {
                ledger.refuse("Join \(error.code)")
                await world.docker.deleteEndpoint(request)
                await release(world, ledger, slot, ip)
                continue
            }
            world.dockerd.attach(endpoint: endpoint, to: network)
            if Bool.random(using: &random) {
                ledger.running(endpoint, slot: slot, ip: ip)
            } else {
                world.dockerd.detach(endpoint: endpoint, from: network)
                await world.docker.deleteEndpoint(request)
                await release(world, ledger, slot, ip)
                ledger.acknowledge()
            }
        }
    }

    /// ReleaseAddress; the test forgets the lease first, so that an address handed out again
    /// right after is not taken for a second holder.
    static func release(_ world: OwnerWorld, _ ledger: Ledger, _ slot: Int, _ ip: String) async {
        ledger.released(slot, ip)
        await world.docker.releaseAddress(ReleaseAddressRequest(PoolID: subnet(slot), Address: ip))
    }

    /// `grapevine endpoint add/remove` on the configured network: each caller its own MACs,
    /// all sharing a few addresses, so that adds also refuse each other.
    static func controlCaller(_ world: OwnerWorld, _ ledger: Ledger, caller: Int, seed: UInt64, round: Int) async {
        var random = SplitMix(seed: seed &* 1_000 &+ UInt64(caller * 10 + round))
        for _ in 0..<8 {
            let mac = String(format: "02:00:00:00:%02x:%02x", caller, Int.random(in: 0..<3, using: &random))
            do throws(AgentError) {
                if Bool.random(using: &random) {
                    let ip = "10.100.0.\(Int.random(in: 1...24, using: &random))"
                    let view = try await world.overlay.registerEndpoint(EndpointRequest(network: "static", mac: mac, ip: ip, ip6: nil, name: nil))
                    ledger.controlAdded(mac, ip: view.ip)
                } else {
                    try await world.overlay.unregisterEndpoint(network: "static", mac: mac)
                    ledger.controlRemoved(mac)
                }
            } catch {
                ledger.refuse("endpoint \(error.code)")
            }
        }
    }
}

/// What the callers were told: the test's own record of every acknowledged change.
final class Ledger: Sendable {
    struct Container: Sendable, Hashable {
        var slot: Int
        var ip: String
    }

    private struct State {
        var networks: [Int: String] = [:]
        var deleted: Set<Int> = []
        var containers: [String: Container] = [:]
        /// Leases per slot that Docker holds (acknowledged, not released).
        var leases: [Int: [String]] = [:]
        var doubleLeases: [String] = []
        /// The configured network's endpoints by MAC: their address, or nil once removed.
        var control: [String: String?] = [:]
        var acknowledged = 0
        var refused: [String: Int] = [:]
    }

    private let state = Mutex(State())

    func network(_ slot: Int) -> String? { state.withLock { $0.networks[slot] } }
    func created(_ slot: Int, id: String) { state.withLock { $0.networks[slot] = id; $0.acknowledged += 1 } }
    func deleted(_ slot: Int) { state.withLock { _ = $0.deleted.insert(slot); $0.acknowledged += 1 } }
    /// A refused call, by method and error code.
    func refuse(_ what: String) { state.withLock { $0.refused[what, default: 0] += 1 } }
    func acknowledge() { state.withLock { $0.acknowledged += 1 } }

    func leased(_ slot: Int, _ ip: String) {
        state.withLock {
            if $0.leases[slot, default: []].contains(ip) { $0.doubleLeases.append("\(ip) in slot \(slot)") }
            $0.leases[slot, default: []].append(ip)
            $0.acknowledged += 1
        }
    }

    func released(_ slot: Int, _ ip: String) {
        state.withLock {
            if let i = $0.leases[slot]?.firstIndex(of: ip) { $0.leases[slot]?.remove(at: i) }
        }
    }

    func running(_ endpoint: String, slot: Int, ip: String) {
        state.withLock {
            $0.containers[endpoint] = Container(slot: slot, ip: ip)
            $0.acknowledged += 1
        }
    }

    func controlAdded(_ mac: String, ip: String?) { state.withLock { $0.control[mac] = .some(ip); $0.acknowledged += 1 } }
    func controlRemoved(_ mac: String) { state.withLock { $0.control[mac] = .some(nil); $0.acknowledged += 1 } }

    var acknowledged: Int { state.withLock { $0.acknowledged } }
    var refused: Int { state.withLock { $0.refused.values.reduce(0, +) } }
    var summary: String {
        state.withLock { s in
            "acknowledged=\(s.acknowledged) refused: " + s.refused.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
    }
    var doubleLeases: [String] { state.withLock { $0.doubleLeases } }

    /// Slots whose network exists now (made, not deleted), by slot: dockerd's ID.
    var liveNetworks: [Int: String] { state.withLock { s in s.networks.filter { !s.deleted.contains($0.key) } } }
    var deletedSlots: Set<Int> { state.withLock { $0.deleted } }
    var containers: [String: Container] { state.withLock { $0.containers } }
    var leases: [Int: [String]] { state.withLock { $0.leases } }
    /// The configured network's endpoints that exist: MAC → address.
    var controlEndpoints: [String: String] {
        state.withLock { s in
            var out: [String: String] = [:]
            for (mac, ip) in s.control { if let ip { out[mac] = ip } }
            return out
        }
    }
}
