import Foundation
import GrapevineTestSupport
import Gossip
import GossipCore
import GossipWire
import Synchronization
import Testing

private let namespaceSerial = Atomic<Int>(0)

/// A "switch" namespace holding a bridge, and `hosts` namespaces each linked to it by a veth
/// pair (`eth0` inside the host, 10.99.0.N/24). Deleted whatever happens, processes first.
struct SwitchedHosts {
    let switchNamespace: String
    let hosts: [String]

    func address(_ host: Int) -> String { "10.99.0.\(host + 1)" }
    func port(_ host: Int) -> String { "vs\(host + 1)" }

    static func with(hosts count: Int, _ body: (SwitchedHosts) async throws -> Void) async throws {
        try KernelTestGate.check()
        let pid = ProcessInfo.processInfo.processIdentifier
        let serial = namespaceSerial.add(1, ordering: .relaxed).newValue
        let sw = "gvlf-sw-\(pid)-\(serial)"
        let hosts = (0..<count).map { "gvlf-h\($0 + 1)-\(pid)-\(serial)" }
        var created: [String] = []
        defer {
            for name in created.reversed() { _ = try? GrapevineTestSupport.run(["ip", "netns", "del", name]) }
        }
        for name in [sw] + hosts {
            try GrapevineTestSupport.run(["ip", "netns", "add", name])
            created.append(name)
        }
        let net = SwitchedHosts(switchNamespace: sw, hosts: hosts)
        try GrapevineTestSupport.run(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"])
        try GrapevineTestSupport.run(["ip", "-n", sw, "link", "set", "br0", "up"])
        for (i, h) in hosts.enumerated() {
            try GrapevineTestSupport.run(["ip", "-n", sw, "link", "add", net.port(i), "type", "veth", "peer", "name", "eth0", "netns", h])
            try GrapevineTestSupport.run(["ip", "-n", sw, "link", "set", net.port(i), "master", "br0", "up"])
            try GrapevineTestSupport.run(["ip", "-n", h, "link", "set", "lo", "up"])
            try GrapevineTestSupport.run(["ip", "-n", h, "addr", "add", "\(net.address(i))/24", "dev", "eth0"])
            try GrapevineTestSupport.run(["ip", "-n", h, "link", "set", "eth0", "up"])
        }
        try await body(net)
    }
}

@Suite(.serialized, .timeLimit(.minutes(5)), KernelTestGate.trait)
struct LinkFaultTests {
    /// Issue 8, "must show": a member advertising an address nobody can send to, a link that
    /// goes down and comes back, and UDP blocked after start, in namespaces.
    @Test("an unreachable advertised address and a link down past the gossip-to-the-dead window then up silence nobody; the cluster converges again; UDP blocked later is reported")
    func linkFaults() async throws {
        try requireNodeExecutable()
        try await SwitchedHosts.with(hosts: 4) { net in
            let processes = ProcessSet()
            do {
                try await run(net, processes)
            } catch {
                Issue.record(error)
            }
            await processes.stopAll()
        }
    }

    private func run(_ net: SwitchedHosts, _ processes: ProcessSet) async throws {
        let gossipPort: UInt16 = 7946
        let names = (1...4).map { "m\($0)" }
        // Members stop gossiping to one they declared failed after 3 s (30 s by default), so
        // that the link can stay down past that window in seconds rather than a minute.
        let deadWindow = ["--gossip-to-the-dead-ms", "3000"]
        var nodes: [NodeProcess] = []
        for i in 0..<4 {
            let join = i == 0 ? [] : ["--join", "\(net.address(0)):\(gossipPort)"]
            nodes.append(
                try processes.start(
                    names[i], ["--bind", "\(net.address(i)):\(gossipPort)"] + join + fastNodeArguments + deadWindow, logLevel: "warning",
                    logs: true, namespace: net.hosts[i]))
        }
        func allJoined(_ who: [NodeProcess], _ what: String) async throws {
            for p in who {
                try await p.waitUntil(what) { v in names.allSatisfy { v.statuses[$0] == "joined" } }
            }
        }
        func socketsHeld(_ hosts: [Int], _ when: String) throws {
            for i in hosts {
                let ports = try boundUDPPorts(namespace: net.hosts[i])
                #expect(ports.contains(gossipPort), "m\(i + 1) lost its UDP socket \(when)")
            }
        }
        try await allJoined(nodes, "4 joined")

        // A fifth process, on m1's host, advertising an address no one has a route to.
        let bad = try processes.start(
            "bad",
            ["--bind", "\(net.address(0)):7947", "--advertise", "10.99.9.9:7947", "--join", "\(net.address(1)):\(gossipPort)"]
                + fastNodeArguments, namespace: net.hosts[0])
        // m2 learns of it through the join; whatever it then decides, it has tried to send there.
        try await nodes[1].waitUntil("m2 hears of bad", timeout: .seconds(30)) { $0.statuses["bad"] != nil || $0.exited }
        _ = bad

        // m4's link goes down: the others must declare it failed (that takes several probe
        // periods, which is also the window in which they keep sending to the bad address).
        try GrapevineTestSupport.run(["ip", "-n", net.hosts[3], "link", "set", "eth0", "down"])
        for p in nodes[0..<3] {
            try await p.waitUntil("m4 failed") { $0.statuses["m4"] == "failed" }
        }
        try socketsHeld([0, 1, 2], "while m4's link was down and 'bad' was known")
        try socketsHeld([3], "while its own link was down")

        // The link stays down for 6 s: twice the 3 s in which the others still gossip to a
        // member they declared failed. This wait is the fault's length, not a synchronisation.
        try await Task.sleep(for: .seconds(6))
        try socketsHeld([0, 1, 2, 3], "after 6 s with m4's link down")
        // The link comes back: everyone sees all four alive again within a few probe periods
        // (200 ms here), not at the next 30 s reconnect round; the bound is far below the latter.
        try GrapevineTestSupport.run(["ip", "-n", net.hosts[3], "link", "set", "eth0", "up"])
        for p in nodes {
            try await p.waitUntil("4 joined again after m4's link returned", timeout: .seconds(15)) { v in
                names.allSatisfy { v.statuses[$0] == "joined" }
            }
        }
        try socketsHeld([0, 1, 2, 3], "after m4's link returned")
        for p in nodes { #expect(p.isRunning, "\(p.name) exited") }

        // UDP blocked on m3's host after start; TCP still passes. m3 must say so.
        let h3 = net.hosts[2]
        try GrapevineTestSupport.run(["ip", "netns", "exec", h3, "nft", "add", "table", "inet", "gvtest"])
        try GrapevineTestSupport.run([
            "ip", "netns", "exec", h3, "nft", "add", "chain", "inet", "gvtest", "in",
            "{ type filter hook input priority 0 ; policy accept ; }",
        ])
        try GrapevineTestSupport.run(["ip", "netns", "exec", h3, "nft", "add", "rule", "inet", "gvtest", "in", "udp", "dport", "\(gossipPort)", "drop"])
        try await nodes[2].waitUntil("m3 warns that UDP is blocked", timeout: .seconds(60)) { v in
            v.logs.contains { $0.contains("UDP") && $0.contains("blocked") }
        }
        try socketsHeld([0, 1, 2, 3], "with UDP blocked on m3's host")
    }
}
