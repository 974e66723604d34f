import Foundation
import GrapevineTestSupport
import Testing

/// Faults an operator (or another tool) makes in a host's kernel, repaired by real agents in
/// namespaces (issue 20, "The kernel follows the gossip, always"). Where repair must be
/// immediate, the agents run with a timed reconcile an hour apart, so only a kernel
/// notification can have triggered it.
@Suite(.serialized, KernelTestGate.trait)
struct KernelRepairTests {
    static let blue = "blue:100"
    static let noTimer = ["--reconcile-interval", "3600"]

    /// A bridge deleted by hand: bridge, VXLAN device and rows come back, and so do the
    /// containers' ports, at once.
    @Test func aBridgeDeletedByHandComesBackWithItsPorts() async throws {
        try await TestCluster.with(hosts: 2, networks: [1: [Self.blue], 2: [Self.blue]]) { cluster in
            for h in 1...2 { try await cluster.startAgent(h, extra: Self.noTimer) }
            let a = try await cluster.addContainer(host: 1, network: "blue", vni: 100, mac: "02:00:00:00:01:01", ip: "10.10.100.11")
            let b = try await cluster.addContainer(host: 2, network: "blue", vni: 100, mac: "02:00:00:00:02:01", ip: "10.10.100.21")
            try await waitUntil("h1 reaches h2's container", timeout: 60) { await cluster.ping(from: a, to: b) }
            let ns = cluster.namespace(1)
            // The bridge has its own address (02:67:76 and the VNI), not its lowest port's: a
            // port added never changes the MAC containers cached for it.
            let fixed = "link/ether 02:67:76:00:00:64"
            #expect(try sh("ip", "-n", ns, "link", "show", "gvbr100").contains(fixed))
            let before = try sh("ip", "-n", ns, "-o", "link", "show", "gvbr100")
            try sh("ip", "-n", ns, "link", "del", "gvbr100")
            do {
                try await waitUntil("h1's container reaches h2's again", timeout: 60) { await cluster.ping(from: a, to: b) }
            } catch {
                print((try? String(contentsOfFile: cluster.log(1), encoding: .utf8)) ?? "")
                print(try sh("ip", "-n", ns, "-d", "link", "show"))
                throw error
            }
            #expect(try sh("ip", "-n", ns, "link", "show", "c1").contains("master gvbr100"))
            // Made anew: another ifindex than the bridge that was deleted.
            #expect(try sh("ip", "-n", ns, "-o", "link", "show", "gvbr100").split(separator: ":").first
                    != before.split(separator: ":").first)
            #expect(try sh("ip", "-n", ns, "link", "show", "gvx100").contains("master gvbr100"))
            #expect(try sh("ip", "-n", ns, "link", "show", "gvbr100").contains(fixed), "made anew with the same address")
            let expected = cluster.expectedRows(1, vni: 100, live: [1, 2], members: [1, 2])
            try await waitUntil("h1's rows are back", timeout: 60) { try await cluster.kernelRows(1, vni: 100) == expected }
        }
    }

    /// The VXLAN device set down, then detached from its bridge: put back at once.
    @Test func aDeviceSetDownOrDetachedIsRepairedAtOnce() async throws {
        try await TestCluster.with(hosts: 1, networks: [1: [Self.blue]]) { cluster in
            try await cluster.startAgent(1, extra: Self.noTimer)
            let ns = cluster.namespace(1)
            try await waitUntil("gvx100 is up on gvbr100", timeout: 60) {
                let shown = try sh("ip", "-n", ns, "link", "show", "gvx100")
                return shown.contains("master gvbr100") && shown.contains(",UP")
            }
            try sh("ip", "-n", ns, "link", "set", "gvx100", "down")
            try await waitUntil("gvx100 is up again", timeout: 60) { try sh("ip", "-n", ns, "link", "show", "gvx100").contains(",UP") }
            try sh("ip", "-n", ns, "link", "set", "gvx100", "nomaster")
            try await waitUntil("gvx100 is on gvbr100 again", timeout: 60) {
                try sh("ip", "-n", ns, "link", "show", "gvx100").contains("master gvbr100")
            }
            // Learning stays off on the VXLAN port.
            #expect(try sh("bridge", "-n", ns, "-d", "link", "show", "dev", "gvx100").contains("learning off"))
        }
    }

    /// An operator's flood destination makes the kernel's flags of the all-zero MAC foreign for
    /// every destination; the agent still withdraws its own destination of a host that failed
    /// (one direction), and never the operator's, through timed reconciles and a restart (the other).
    @Test func floodRowsAreOwnedByTheAgentsRecordNotTheFlags() async throws {
        try await TestCluster.with(hosts: 3, networks: [1: [Self.blue], 2: [Self.blue], 3: [Self.blue]]) { cluster in
            for h in 1...3 { try await cluster.startAgent(h) }
            for h in 1...3 {
                try await cluster.addContainer(host: h, network: "blue", vni: 100, mac: "02:00:00:00:0\(h):01", ip: "10.10.100.\(h * 10 + 1)")
            }
            let all = cluster.expectedRows(1, vni: 100, live: [1, 2, 3], members: [1, 2, 3])
            try await waitUntil("h1 holds every row", timeout: 60) { try await cluster.kernelRows(1, vni: 100) == all }
            let ns = cluster.namespace(1)
            let operatorVTEP = "10.77.0.99"
            try sh("ip", "netns", "exec", ns, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "gvx100", "dst", operatorVTEP, "self", "permanent")
            await cluster.stopAgent(3, signal: SIGKILL)
            var without = cluster.expectedRows(1, vni: 100, live: [1, 2], members: [1, 2, 3])
            without.flood.insert(operatorVTEP)
            try await waitUntil("h1 withdrew h3's flood row and kept the operator's", timeout: 120) {
                try await cluster.kernelRows(1, vni: 100) == without
            }
            let reconciles = try await OverlayEndToEndTests.reconciles(cluster, 1)
            try await waitUntil("a timed reconcile ran", timeout: 60) { try await OverlayEndToEndTests.reconciles(cluster, 1) > reconciles }
            #expect(try await cluster.kernelRows(1, vni: 100) == without)
            _ = try await cluster.restartAgent(1)
            let after = try await OverlayEndToEndTests.reconciles(cluster, 1)
            try await waitUntil("the restarted agent reconciled", timeout: 60) { try await OverlayEndToEndTests.reconciles(cluster, 1) > after + 1 }
            #expect(try await cluster.kernelRows(1, vni: 100).flood.contains(operatorVTEP))
            #expect(try await cluster.kernelRows(1, vni: 100) == without)
        }
    }

    /// A MAC the bridge learned on the VXLAN port (as it would before it came here), then
    /// registered on this host: the learned row goes at once and the local container is
    /// reached directly, not through the overlay.
    @Test func aMACThatBecameLocalIsReachedAtOnce() async throws {
        try await TestCluster.with(hosts: 2, networks: [1: [Self.blue], 2: [Self.blue]]) { cluster in
            for h in 1...2 { try await cluster.startAgent(h, extra: Self.noTimer) }
            let a = try await cluster.addContainer(host: 1, network: "blue", vni: 100, mac: "02:00:00:00:01:01", ip: "10.10.100.11")
            let moved = try await cluster.addContainer(host: 1, network: "blue", vni: 100, mac: "02:00:00:00:01:02", ip: "10.10.100.12",
                                                       register: false, ipv6: false)
            let ns = cluster.namespace(1)
            try sh("ip", "netns", "exec", ns, "bridge", "fdb", "replace", moved.mac, "dev", "gvx100", "master", "dynamic")
            #expect(try sh("ip", "netns", "exec", ns, "bridge", "fdb", "show", "dev", "gvx100").contains("\(moved.mac) master gvbr100"))
            // a's cache still holds the MAC, as it would from before the move: no ARP broadcast
            // teaches the bridge where the MAC is now.
            try sh("ip", "-n", a.namespace, "neigh", "replace", moved.ip, "lladdr", moved.mac, "dev", "eth0", "nud", "reachable")
            try await cluster.cli(1, "endpoint", "add", "--network", "blue", "--mac", moved.mac, "--ip", moved.ip)
            #expect(!(try sh("ip", "netns", "exec", ns, "bridge", "fdb", "show", "dev", "gvx100")).contains("\(moved.mac) master"))
            #expect(await cluster.ping(from: a, to: moved))
        }
    }
}

extension KernelRepairTests {
    /// An address taken over by a container with another MAC on another host: a container that
    /// cached the old MAC is told the new one at once (gratuitous ARP through the overlay),
    /// without waiting for its cache entry to expire.
    @Test func anAddressMovedToANewMACIsAnnounced() async throws {
        try await TestCluster.with(hosts: 2, networks: [1: [Self.blue], 2: [Self.blue]]) { cluster in
            for h in 1...2 { try await cluster.startAgent(h) }
            let a = try await cluster.addContainer(host: 1, network: "blue", vni: 100, mac: "02:00:00:00:01:01", ip: "10.10.100.11")
            let old = try await cluster.addContainer(host: 2, network: "blue", vni: 100, mac: "02:00:00:00:02:01", ip: "10.10.100.21")
            try await waitUntil("h1's container reaches the old holder", timeout: 60) { await cluster.ping(from: a, to: old) }
            #expect(try sh("ip", "-n", a.namespace, "neigh", "show", old.ip).contains(old.mac))
            try sh("ip", "-n", old.namespace, "link", "set", "eth0", "down")
            try await cluster.cli(2, "endpoint", "rm", "--network", "blue", "--mac", old.mac)
            let new = try await cluster.addContainer(host: 2, network: "blue", vni: 100, mac: "02:00:00:00:02:02", ip: old.ip)
            try await waitUntil("h1's container holds the new MAC for the address", timeout: 20) {
                try sh("ip", "-n", a.namespace, "neigh", "show", new.ip).contains(new.mac)
            }
            #expect(await cluster.ping(from: a, to: new))
        }
    }
}

extension KernelRepairTests {
    /// A row that went while an agent was down: after its restart it goes as soon as the
    /// replica is complete, not after the startup grace (an hour here).
    @Test func ownStaleRowsGoOnceTheReplicaIsComplete() async throws {
        try await TestCluster.with(hosts: 3, networks: [1: [Self.blue], 2: [Self.blue], 3: [Self.blue]]) { cluster in
            for h in 1...3 { try await cluster.startAgent(h) }
            let gone = try await cluster.addContainer(host: 3, network: "blue", vni: 100, mac: "02:00:00:00:03:01", ip: "10.10.100.31")
            try await cluster.addContainer(host: 1, network: "blue", vni: 100, mac: "02:00:00:00:01:01", ip: "10.10.100.11")
            let all = cluster.expectedRows(2, vni: 100, live: [1, 2, 3], members: [1, 2, 3])
            try await waitUntil("h2 holds every row", timeout: 60) { try await cluster.kernelRows(2, vni: 100) == all }
            await cluster.stopAgent(2)
            try await cluster.cli(3, "endpoint", "rm", "--network", "blue", "--mac", gone.mac)
            try await cluster.startAgent(2, extra: ["--startup-grace", "3600"])
            var without = all
            without.unicast[gone.mac] = nil
            without.neighbors[gone.ip] = nil
            try await waitUntil("the restarted h2 withdrew the row that went while it was down", timeout: 60) {
                try await cluster.kernelRows(2, vni: 100) == without
            }
        }
    }
}
