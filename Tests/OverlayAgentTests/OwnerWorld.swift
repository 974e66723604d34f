import GrapevineTestSupport
import Addresses
import Foundation
import Gossip
import Logging
import Netlink
import Overlay
@testable import OverlayAgent
import Testing

/// One agent's owners wired as `Agent` wires them, against faulty edges (`OwnerFaults`), with
/// the kernel in `namespace`, and a second gossip node (`h2`, VTEP 192.0.2.2) whose rows give
/// every network remote rows to program. Gossip runs on loopback.
struct OwnerWorld {
    let namespace: String
    let directory: String
    let faults: OwnerFaults
    let files: FaultyFiles
    let dockerd: FakeDockerd
    let node: GossipNode
    let remote: GossipNode
    let registry: EndpointRegistry
    let ipam: AllocatorOwner
    let overlay: OverlayController
    let docker: DockerDriver
    let configuration: AgentConfiguration

    /// `h2`'s endpoints: on every network, two (MAC, address) pairs of its own.
    static func remoteEndpoints(_ vni: VNI) -> [(mac: MACAddress, ip: IPAddress)] {
        let index = vni == OwnerFaultTests.staticVNI ? 99 : Int(vni.value - 5_000)
        return (1...2).map { k in
            (MACAddress(String(format: "02:99:00:00:%02x:%02x", index, k))!, IPAddress("10.99.\(index).\(k)")!)
        }
    }

    static var allVNIs: [VNI] { [OwnerFaultTests.staticVNI] + OwnerFaultTests.slots.map(OwnerFaultTests.vni) }

    init(namespace: String, directory: String, seed: UInt64) throws {
        self.namespace = namespace
        self.directory = directory
        let logger = Logger(label: "owner-faults", factory: { _ in SwiftLogNoOpLogHandler() })
        let metrics = AgentMetrics()
        faults = OwnerFaults(seed: seed)
        files = FaultyFiles(directory: directory, faults: faults)
        dockerd = FakeDockerd(faults: faults)
        var configuration = AgentConfiguration(name: "h1")
        configuration.dataDir = directory
        configuration.bind = "127.0.0.1:0"
        configuration.networks = [NetworkConfiguration(name: "static", vni: OwnerFaultTests.staticVNI)]
        configuration.docker = true
        configuration.underlayMTU = 1500
        configuration.startupGrace = 0
        self.configuration = configuration
        node = try GossipNode(configuration: GossipConfiguration(name: "h1", bindAddress: Address(ipv4: freshLoopbackIPv4(), port: 0), logger: logger))
        remote = try GossipNode(configuration: GossipConfiguration(name: "h2", bindAddress: Address(ipv4: freshLoopbackIPv4(), port: 0), logger: logger))
        let rows = FaultyNodeRows(real: GossipRows(node: node), faults: faults)
        let kernel = FaultyKernel(real: KernelWorker(namespace: .named(namespace)), faults: faults)
        let node = self.node
        ipam = try AllocatorOwner(
            host: "h1", disk: FaultyAllocatorFile(files: files), rows: rows, reclaimAfter: 3_600_000, logger: logger, metrics: metrics,
            aliveNodes: { Set(node.members.filter { $0.status == .alive }.map(\.name)) })
        registry = EndpointRegistry(host: "h1", disk: FaultyRegistryFile(files: files), rows: rows, logger: logger, metrics: metrics,
                                    retry: Backoff(base: .milliseconds(1), cap: .milliseconds(4)), retryAttempts: 10_000)
        let published = DockerDriver.Published()
        overlay = OverlayController(
            configuration: configuration, vtep: IPAddress("192.0.2.1")!, node: node, rows: rows, kernel: kernel,
            persistence: PersistenceQueue(), registry: registry, ipam: ipam, docker: published, names: nil, clock: AgentClock(),
            logger: logger, metrics: metrics, hub: MonitorHub())
        docker = DockerDriver(
            host: "h1", store: FaultyDockerFile(files: files), engine: dockerd, overlay: overlay, published: published, kernel: kernel,
            registry: registry, ipam: ipam, rows: rows, nameServiceRoutes: nil, readsAliases: false, logger: logger, metrics: metrics)
    }

    /// Starts as `Agent.run` does (faults off), with `h2` joined and its rows in the replica;
    /// runs the owners' loops around `body`; stops everything after.
    /// - Parameter background: also the loops that repair on their own (the reconcile loop and
    ///   its retries, the driver's sync loop and naming tasks); without them a test of one case
    ///   sees what a fault left until it runs the repair itself.
    func running(background: Bool = true, _ body: @Sendable () async throws -> Void) async throws {
        registry.restore(try files.endpoints.load())
        let restored = try await docker.load()
        try await overlay.prepare(restoring: restored)
        let updates = await node.stateChanges()
        let address = try await node.start().address
        try await overlay.publishHostRow()
        try await registry.publishAll()
        try await remote.start()
        defer { Task { [node, remote] in await remote.stop(); await node.stop() } }
        try await remote.join([address])
        try await remote.writeRow(table: OverlayRow.table, key: OverlayRow.host(vtep: OwnerFaultTests.remoteVTEP, networks: Set(Self.allVNIs)).stateKey,
                                  value: try OverlayRow.host(vtep: OwnerFaultTests.remoteVTEP, networks: Set(Self.allVNIs)).value())
        for vni in Self.allVNIs {
            for (mac, ip) in Self.remoteEndpoints(vni) {
                let row = OverlayRow.endpoint(Endpoint(network: vni, mac: mac, ipv4: ip, claim: Claim(time: 1, owner: "h2")))
                try await remote.writeRow(table: OverlayRow.table, key: row.stateKey, value: try row.value())
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await overlay.follow(updates) }
            group.addTask { await registry.run() }
            group.addTask { await ipam.run() }
            if background {
                group.addTask { await overlay.reconcileLoop() }
                group.addTask { await overlay.retryLoop() }
                group.addTask { await docker.run() }
            }
            try await eventually("h2's rows are in h1's replica") {
                await overlay.replicaEndpointCount(owner: "h2") == Self.allVNIs.count * 2
            }
            await overlay.joinedCluster()
            try await body()
            group.cancelAll()
        }
        await remote.stop()
        await node.stop()
        overlay.finish()
        docker.finish()
        ipam.finish()
    }

    /// With the faults off: the naming of new networks done, a sync pass of the driver, then
    /// one reconcile pass over every network.
    func settle(_ ledger: Ledger) async throws {
        let live = ledger.liveNetworks
        try await eventually("every live network is named") {
            let own = await docker.published.ownDefinitions
            return live.allSatisfy { slot, _ in own[OwnerFaultTests.vni(slot)]?.name == "n\(slot)" }
        }
        await docker.syncPass()
        await overlay.reconcileEverything()
    }

    // MARK: checks

    func check(_ ledger: Ledger) async throws {
        let live = ledger.liveNetworks
        let liveVNIs = Set(live.keys.map(OwnerFaultTests.vni)).union([OwnerFaultTests.staticVNI])
        #expect(ledger.doubleLeases.isEmpty, "no address handed to two containers at once: \(ledger.doubleLeases)")

        // Endpoints: the registry, its file and the published rows hold exactly the
        // acknowledged ones.
        var expected: [EndpointKey: String?] = [:]
        for (mac, ip) in ledger.controlEndpoints {
            expected[EndpointKey(network: OwnerFaultTests.staticVNI.value, mac: MACAddress(mac)!.description)] = .some(ip)
        }
        for (_, c) in ledger.containers {
            guard case .v4(let raw)? = IPAddress(c.ip) else { continue }
            expected[EndpointKey(network: OwnerFaultTests.vni(c.slot).value, mac: DockerDriver.mac(for: raw).description)] = .some(c.ip)
        }
        let file = try files.endpoints.load()
        let published = try await publishedRows()
        var publishedEndpoints: [EndpointKey: String?] = [:]
        for case .endpoint(let e) in published { publishedEndpoints[EndpointKey(network: e.network.value, mac: e.mac.description)] = e.ipv4?.description }
        let registryHolds = registry.endpoints.mapValues(\.ip)
        let fileHolds = Dictionary(file.endpoints.map { ($0.key, $0.ip) }, uniquingKeysWith: { a, _ in a })
        #expect(registryHolds == expected, "the registry holds the acknowledged endpoints")
        #expect(fileHolds == expected, "endpoints.json holds them")
        #expect(publishedEndpoints == expected, "the published endpoint rows are the acknowledged endpoints")
        #expect(fileHolds == registryHolds && publishedEndpoints == registryHolds, "registry, file and rows agree")
        #expect(file.endpoints.count == fileHolds.count, "no endpoint twice in endpoints.json")
        for vni in liveVNIs {
            let ips = registry.endpoints.values.filter { $0.vni == vni.value }.compactMap(\.ip)
            #expect(Set(ips).count == ips.count, "no address twice in network \(vni)")
        }

        // Networks: docker.json, the definitions and the host row.
        let state = try files.docker.load()
        #expect(state.networks == Dictionary(uniqueKeysWithValues: live.map { ($0.value, OwnerFaultTests.vni($0.key).value) }),
                "docker.json holds the live networks, and none of the failed creates")
        #expect(Set(state.endpoints.keys) == Set(ledger.containers.keys), "docker.json holds the running containers' endpoints")
        for slot in OwnerFaultTests.slots {
            let stored = state.definitions[String(OwnerFaultTests.vni(slot).value)]
            let definition = published.compactMap { row -> NetworkDefinition? in
                if case .network(let d) = row, d.vni == OwnerFaultTests.vni(slot) { return d } else { return nil }
            }.first
            if live[slot] != nil {
                #expect(stored?.deleted == false && stored?.name == "n\(slot)", "docker.json defines network \(slot)")
                #expect(definition?.deleted == false && definition?.name == "n\(slot)", "network \(slot)'s definition is published")
            } else {
                #expect(stored.map(\.deleted) ?? true, "no live definition of deleted network \(slot) in docker.json")
                #expect(definition.map(\.deleted) ?? true, "no live definition of deleted network \(slot) published")
            }
        }
        let hostNetworks = published.compactMap { row -> Set<VNI>? in if case .host(_, let n) = row { n } else { nil } }.first
        #expect(hostNetworks == liveVNIs, "the host row names exactly the networks this host takes part in")

        // Leases: every address Docker holds is in ipam.json and in the published allocator row.
        let ipamFile = try files.ipam.load()
        for (slot, held) in ledger.leases where live[slot] != nil {
            let vni = OwnerFaultTests.vni(slot)
            let onDisk = try ipamFile.flatMap { file in
                try file.networks[String(vni.value)].map { try Self.leases(OverlayRow(key: OverlayRow.allocatorKey(vni: vni, incarnation: file.incarnation), value: Array($0), owner: "h1")) }
            } ?? []
            #expect(Set(held).isSubset(of: onDisk), "ipam.json holds every lease of network \(slot): missing \(Set(held).subtracting(onDisk).sorted())")
            let row = published.first { if case .allocator(let a) = $0 { a.vni == vni } else { false } }
            let publishedLeases = try row.map(Self.leases) ?? []
            #expect(Set(held).isSubset(of: publishedLeases), "the allocator row of network \(slot) holds every lease")
        }

        try await checkKernel(ledger, liveVNIs: liveVNIs)
    }

    static func leases(_ row: OverlayRow) throws -> Set<String> {
        guard case .allocator(let record) = row else { return [] }
        let pool = try record.pool.pool()
        return Set(record.row.leases.map { pool.address($0).description })
    }

    /// This host's overlay rows as its node holds them.
    func publishedRows() async throws -> [OverlayRow] {
        try await node.rows(of: "h1").filter { $0.table == OverlayRow.table && !$0.deleted }.map {
            try OverlayRow(stateKey: $0.key, value: $0.value, owner: "h1")
        }
    }

    /// The namespace holds the devices of exactly the live networks, the veths of exactly the
    /// running containers, and every network's rows are the desired ones, read back through
    /// netlink.
    func checkKernel(_ ledger: Ledger, liveVNIs: Set<VNI>) async throws {
        let reader = KernelWorker(namespace: .named(namespace))
        let links = try await reader.run { links, _ throws(NetlinkError) in try links.links() }
        let names = Set(links.map(\.name))
        #expect(Set(names.filter { $0.hasPrefix("gvx") }) == Set(liveVNIs.map { "gvx\($0.value)" }), "VXLAN devices of exactly the live networks")
        #expect(Set(names.filter { $0.hasPrefix("gvbr") }) == Set(liveVNIs.map { "gvbr\($0.value)" }), "bridges of exactly the live networks")
        let veths = Set(ledger.containers.keys.map { "gv" + $0.prefix(11) })
        #expect(Set(names.filter { $0.hasPrefix("gv") && !$0.hasPrefix("gvx") && !$0.hasPrefix("gvbr") }) == veths,
                "host veths of exactly the running containers")
        for vni in liveVNIs {
            guard let device = await overlay.device(vni) else {
                Issue.record("network \(vni) has no device in the overlay")
                continue
            }
            let bridge = links.first { $0.name == device.network.bridge }?.ifindex
            for veth in ledger.containers.filter({ OwnerFaultTests.vni($0.value.slot) == vni }).keys.map({ "gv" + $0.prefix(11) }) {
                #expect(links.first { $0.name == veth }?.masterIndex == bridge, "\(veth) is on its network's bridge")
            }
            guard let observed = try await reader.observe(device) else {
                Issue.record("network \(vni)'s VXLAN device is missing")
                continue
            }
            let remote = Self.remoteEndpoints(vni)
            #expect(Set(observed.rows.flood.keys) == [OwnerFaultTests.remoteVTEP], "flood rows of \(vni)")
            #expect(observed.rows.unicast.mapValues(\.value) == Dictionary(uniqueKeysWithValues: remote.map { ($0.mac, OwnerFaultTests.remoteVTEP) }),
                    "unicast rows of \(vni)")
            #expect(observed.rows.neighbors.mapValues(\.value) == Dictionary(uniqueKeysWithValues: remote.map { ($0.ip, Optional($0.mac)) }),
                    "neighbour rows of \(vni)")
            let view = try await overlay.fdb(network: device.network.name)
            #expect(view.inSync, "the agent's own comparison of \(vni) agrees: \(view.lines.filter { $0.status != "ok" })")
        }
    }
}

extension OverlayController {
    /// What the timer and the reconcile loop do, awaited: the host row published if owed, the
    /// desired state brought up to date, every network's devices checked and its rows
    /// reconciled once, devices owed a removal removed.
    func reconcileEverything() async {
        if hostRowOwed { _ = try? await publishHostRow() }
        if replicaChanged {
            replicaChanged = false
            updateDesired()
        }
        for vni in devices.keys { ensureWanted.insert(vni) }
        for vni in Set(devices.keys).union(removalOwed.keys).sorted() { await reconcile(vni, .timer) }
    }

    func replicaEndpointCount(owner: String) -> Int { replica.endpoints.values.count { $0.owner == owner } }

}

/// Polls `condition` (every 10 ms) until it holds; throws `TimedOut` after 20 s, a bound for
/// a hang, not a measurement.
func eventually(_ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(20)
    while true {
        if try await condition() { return }
        if ContinuousClock.now > deadline { throw TimedOut(what: what) }
        try await Task.sleep(for: .milliseconds(10))
    }
}
