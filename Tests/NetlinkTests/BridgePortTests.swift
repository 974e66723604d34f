import GrapevineTestSupport
import Netlink
import Testing

/// The bridge's side of the VXLAN port and device notifications, against a real kernel.
@Suite(KernelTestGate.trait) struct BridgePortTests {
    /// Learning off on the port; what the bridge learned there is listed (an operator's static
    /// row is not) and deleted; deleting again is no error.
    @Test func learningOffAndLearnedEntriesRemoved() async throws {
        try await withNamespaces(["brport"]) { names in
            let ns = names[0]
            let host = try VXLANHost(namespace: ns)
            try host.links.createBridge(named: "br0")
            try host.links.attach("vx0", toBridge: "br0")
            try host.links.setUp("br0")
            #expect(try sh("bridge", "-n", ns, "-d", "link", "show", "dev", "vx0").contains("learning on"))
            try host.table.setBridgeLearning(port: host.device.ifindex, false)
            #expect(try sh("bridge", "-n", ns, "-d", "link", "show", "dev", "vx0").contains("learning off"))

            let learned = try mac("02:00:00:ee:00:01"), operators = try mac("02:00:00:ee:00:02")
            try sh("bridge", "-n", ns, "fdb", "add", "\(learned)", "dev", "vx0", "master", "dynamic")
            try sh("bridge", "-n", ns, "fdb", "add", "\(operators)", "dev", "vx0", "master", "static")
            #expect(try host.table.learnedBridgeMACs(port: host.device.ifindex) == [learned])
            try host.table.removeBridgeEntry(learned, port: host.device.ifindex)
            #expect(try host.table.learnedBridgeMACs(port: host.device.ifindex).isEmpty)
            #expect(!(try sh("bridge", "-n", ns, "fdb", "show", "dev", "vx0")).contains("\(learned)"))
            #expect(try sh("bridge", "-n", ns, "fdb", "show", "dev", "vx0").contains("\(operators)"))
            try host.table.removeBridgeEntry(learned, port: host.device.ifindex)
        }
    }

    /// A device set down, detached from its bridge, and a bridge deleted are announced.
    @Test func deviceChangesAreSeen() async throws {
        try await withNamespaces(["monlink"]) { names in
            let ns = names[0]
            let host = try VXLANHost(namespace: ns)
            let bridge = try host.links.createBridge(named: "br0")
            try host.links.attach("vx0", toBridge: "br0")
            let vx = host.device.ifindex

            let down = try NeighborMonitor(namespace: .named(ns), links: true)
            try host.links.setUp("vx0", false)
            let seenDown = await firstEvent(down, within: 5) {
                if case .link(let l) = $0 { return l.ifindex == vx && !l.isUp } else { return false }
            }
            #expect(seenDown != nil)

            let detached = try NeighborMonitor(namespace: .named(ns), links: true)
            try sh("ip", "-n", ns, "link", "set", "vx0", "nomaster")
            let seenDetached = await firstEvent(detached, within: 5) {
                if case .link(let l) = $0 { return l.ifindex == vx && l.masterIndex == nil && l.name == "vx0" } else { return false }
            }
            #expect(seenDetached != nil)
            // Leaving a bridge is never reported as the device's deletion.
            let leaving = try NeighborMonitor(namespace: .named(ns), links: true)
            try host.links.attach("vx0", toBridge: "br0")
            try sh("ip", "-n", ns, "link", "set", "vx0", "nomaster")
            try host.links.setUp("vx0", false)
            let leavingEvents = await firstEvent(leaving, within: 5) {
                if case .link(let l) = $0 { return l.ifindex == vx && (l.removed || !l.isUp) } else { return false }
            }
            guard case .link(let left) = leavingEvents else {
                Issue.record("no event for vx0")
                return
            }
            #expect(!left.removed)

            let deleted = try NeighborMonitor(namespace: .named(ns), links: true)
            try host.links.delete("br0")
            let seenDeleted = await firstEvent(deleted, within: 5) {
                if case .link(let l) = $0 { return l.ifindex == bridge.ifindex && l.removed } else { return false }
            }
            #expect(seenDeleted != nil)
            // Without `links`, no device event.
            let quiet = try NeighborMonitor(namespace: .named(ns))
            try host.links.setUp("vx0")
            try sh("bridge", "-n", ns, "fdb", "add", "02:00:00:ee:00:09", "dev", "vx0", "dst", "192.0.2.9", "self", "permanent")
            let first = await firstEvent(quiet, within: 5) { _ in true }
            guard case .fdbAdded = first else {
                Issue.record("expected the FDB row before any device event, got \(String(describing: first))")
                return
            }
        }
    }
}
