import GrapevineTestSupport
import Addresses
import Foundation
import Netlink
import Overlay
import OverlayAgent

/// `agent-bench reconcile`: `DeviceReconciler.reconcile` on a device with the desired rows of
/// N remote endpoints, cold (empty device), warm (nothing to do) and after a 1 % change, against
/// `bridge -batch` + `ip -batch` adding the same rows to another fresh device, in the same run.
struct ReconcileRun {
    struct Step {
        var name: String
        var seconds: Double
        var operations: Int
    }

    struct Results {
        var endpoints: Int
        var rows: Int
        var steps: [Step] = []
        var baselineSeconds: Double = 0
    }

    static let vni = VNI(100)!
    static let floodVTEPs = 8
    let lab: Lab
    let endpoints: Int

    func run() throws -> Results {
        let ns = try lab.addNamespace("rc")
        let links = try LinkSocket(namespace: .named(ns))
        let table = try VXLANTable(namespace: .named(ns))
        var replica = Self.replica(endpoints: endpoints)
        let local = Self.local
        let desired = try Self.rows(for: local, from: replica)
        var results = Results(endpoints: endpoints, rows: desired.count)

        let device = try links.createVXLAN(named: "vx0", VXLANSettings(vni: Self.vni.value, local: local.vtep)).ifindex
        results.steps.append(try step("cold (empty device)", table: table, device: device, desired: desired))
        let warm = try step("warm (second run)", table: table, device: device, desired: desired)
        guard warm.operations == 0 else { throw BenchError("warm reconcile wrote \(warm.operations) rows; expected none") }
        results.steps.append(warm)

        // Restart-like: while the agent was down, 1 % of the endpoints changed: half moved to
        // another host, a quarter left, a quarter are new.
        let changed = max(4, endpoints / 100)
        for i in 0..<changed / 2 {
            let old = Self.endpoint(i, owner: i % Self.floodVTEPs, time: 1)
            replica.removeEndpoint(owner: old.owner, network: old.network, mac: old.mac)
            replica.insert(Self.endpoint(i, owner: (i + 1) % Self.floodVTEPs, time: 2))
        }
        for i in changed / 2..<(changed * 3 / 4) {
            let e = Self.endpoint(i, owner: i % Self.floodVTEPs, time: 1)
            replica.removeEndpoint(owner: e.owner, network: e.network, mac: e.mac)
        }
        for i in endpoints..<(endpoints + changed - changed * 3 / 4) { replica.insert(Self.endpoint(i, owner: i % Self.floodVTEPs, time: 2)) }
        let after = try Self.rows(for: local, from: replica)
        results.steps.append(try step("after a 1 % change", table: table, device: device, desired: after))
        let again = try step("after the change, second run", table: table, device: device, desired: after)
        guard again.operations == 0 else { throw BenchError("second run after the change wrote \(again.operations) rows") }

        results.baselineSeconds = try baseline(namespace: ns, links: links, table: table, desired: desired)
        return results
    }

    private func step(_ name: String, table: VXLANTable, device: Int32, desired: NetworkRows) throws -> Step {
        let start = now()
        let reconciliation = try DeviceReconciler.reconcile(device: device, to: desired, using: table)
        let seconds = now() - start
        guard reconciliation.converged else { throw BenchError("\(name): reconcile did not converge") }
        let s = Step(name: name, seconds: seconds, operations: reconciliation.diff.operations.count)
        print(String(format: "reconcile %@: %.1f ms, %ld operations", name, seconds * 1000, s.operations))
        return s
    }

    /// The same rows written by `bridge -batch` (FDB) and `ip -batch` (neighbours) to a new
    /// device; checked afterwards by dumping.
    private func baseline(namespace: String, links: LinkSocket, table: VXLANTable, desired: NetworkRows) throws -> Double {
        let device = try links.createVXLAN(named: "vx1", VXLANSettings(vni: Self.vni.value + 1, local: Self.local.vtep)).ifindex
        var fdb = ""
        for vtep in desired.flood { fdb += "fdb append 00:00:00:00:00:00 dev vx1 dst \(vtep) self permanent\n" }
        for (mac, vtep) in desired.unicast { fdb += "fdb add \(mac) dev vx1 dst \(vtep) self permanent\n" }
        var neigh = ""
        for (ip, mac) in desired.neighbors { neigh += "neigh add \(ip) lladdr \(mac) dev vx1 nud permanent\n" }
        let fdbFile = lab.path("baseline.bridge")
        let neighFile = lab.path("baseline.ip")
        try fdb.write(toFile: fdbFile, atomically: true, encoding: .utf8)
        try neigh.write(toFile: neighFile, atomically: true, encoding: .utf8)
        let start = now()
        try sh("bridge", "-n", namespace, "-batch", fdbFile)
        try sh("ip", "-n", namespace, "-batch", neighFile)
        let seconds = now() - start
        let fdbRows = try table.fdbRows(device: device).count
        let neighborRows = try table.neighborRows(device: device).filter { !$0.ip.isMulticast }.count
        guard fdbRows == desired.flood.count + desired.unicast.count, neighborRows == desired.neighbors.count else {
            throw BenchError("baseline left \(fdbRows) FDB and \(neighborRows) neighbour rows")
        }
        print(String(format: "baseline bridge -batch + ip -batch: %.1f ms", seconds * 1000))
        return seconds
    }

    // MARK: the workload

    static let local = Overlay.Host(name: "local", vtep: IPAddress("192.0.2.254")!, networks: [vni])

    static func remote(_ i: Int) -> Overlay.Host {
        Overlay.Host(name: "r\(i)", vtep: IPAddress("192.0.2.\(i + 1)")!, networks: [vni])
    }

    /// Endpoint `i`: MAC 02:00:00:xx:xx:xx, IPv4 10.100.0.0 upwards, owned by remote host `owner`.
    static func endpoint(_ i: Int, owner: Int, time: UInt64) -> Endpoint {
        Endpoint(network: vni, mac: MACAddress(value: 0x0200_0000_0000 | UInt64(i)), ipv4: .v4(0x0A64_0000 &+ UInt32(i)),
                 claim: Claim(time: time, owner: remote(owner).name))
    }

    static func replica(endpoints: Int) -> Replica {
        Replica(hosts: (0..<floodVTEPs).map { Replica.HostState(host: remote($0), live: true) },
                endpoints: (0..<endpoints).map { endpoint($0, owner: $0 % floodVTEPs, time: 1) })
    }

    static func rows(for local: Overlay.Host, from replica: Replica) throws -> NetworkRows {
        let state = DesiredState(for: local, from: replica)
        guard let rows = state.networks[vni], state.conflicts.isEmpty, state.problems.isEmpty else {
            throw BenchError("desired state: \(state.conflicts.count) conflicts, problems \(state.problems)")
        }
        return rows
    }
}
