import Foundation

/// Bytes and packets sent on loopback to or from a range of ports, UDP and TCP apart, counted by
/// nftables in a table of its own (`inet gossip_bench_PID`) that the benchmark adds and always
/// deletes. The rules only count (no verdict), on the output hook, so each packet is counted
/// once; the figure is the IP packet length (IP and UDP/TCP headers included).
struct PortCounters {
    struct Reading {
        var udpBytes: Int
        var tcpBytes: Int
        var packets: Int
        /// TCP connections opened to a member (SYN without ACK): push/pull exchanges.
        var connections: Int
        var nanos: UInt64
        var bytes: Int { udpBytes + tcpBytes }
    }

    static let nft = "/usr/sbin/nft"
    let table: String

    /// `groups`: a counter name and its port range each (the ranges must not overlap).
    init(groups: [(name: String, ports: ClosedRange<Int>)]) throws {
        table = "gossip_bench_\(getpid())"
        Self.removeStaleTables()
        var script = "table inet \(table) {\n"
        for g in groups {
            script += "  counter \(g.name)_udp { }\n  counter \(g.name)_tcp { }\n  counter \(g.name)_syn { }\n"
        }
        script += "  chain out {\n    type filter hook output priority 0; policy accept;\n"
        for g in groups {
            let r = "\(g.ports.lowerBound)-\(g.ports.upperBound)"
            for proto in ["udp", "tcp"] {
                // To a member's port, or from one to a port outside the range (the client end
                // of a TCP connection): each packet matches exactly one rule.
                script += "    meta oif \"lo\" \(proto) dport \(r) counter name \"\(g.name)_\(proto)\"\n"
                script += "    meta oif \"lo\" \(proto) sport \(r) \(proto) dport != \(r) counter name \"\(g.name)_\(proto)\"\n"
            }
        }
        for g in groups {
            let r = "\(g.ports.lowerBound)-\(g.ports.upperBound)"
            script += "    meta oif \"lo\" tcp dport \(r) tcp flags & (syn | ack) == syn counter name \"\(g.name)_syn\"\n"
        }
        script += "  }\n}\n"
        Teardown.shared.keepTable(table)
        let r = try runCommand(Self.nft, ["-f", "-"], input: script)
        guard r.status == 0 else { throw BenchError("nft -f failed: \(r.output)") }
    }

    func read(_ name: String) throws -> Reading {
        let r = try runCommand(Self.nft, ["list", "counters", "table", "inet", table])
        let nanos = monotonicNanos()
        guard r.status == 0 else { throw BenchError("nft list counters failed: \(r.output)") }
        func counter(_ full: String) throws -> (packets: Int, bytes: Int) {
            // counter NAME {\n\t\tpackets P bytes B\n\t}
            guard let at = r.output.range(of: "counter \(full) {") else { throw BenchError("no counter \(full)") }
            let words = r.output[at.upperBound...].split(whereSeparator: \.isWhitespace).prefix(4)
            guard words.count == 4, words.first == "packets", let p = Int(words[words.startIndex + 1]),
                let b = Int(words[words.startIndex + 3])
            else { throw BenchError("cannot read counter \(full)") }
            return (p, b)
        }
        let udp = try counter("\(name)_udp")
        let tcp = try counter("\(name)_tcp")
        let syn = try counter("\(name)_syn")
        return Reading(
            udpBytes: udp.bytes, tcpBytes: tcp.bytes, packets: udp.packets + tcp.packets, connections: syn.packets,
            nanos: nanos)
    }

    func remove() { Teardown.shared.removeTable(table) }

    /// Tables of earlier runs that were killed too hard to clean up (SIGKILL): their PID is gone.
    private static func removeStaleTables() {
        guard let r = try? runCommand(nft, ["list", "tables"]), r.status == 0 else { return }
        for line in r.output.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard words.count == 3, words[1] == "inet", words[2].hasPrefix("gossip_bench_"),
                let pid = Int32(words[2].dropFirst("gossip_bench_".count)), kill(pid, 0) != 0
            else { continue }
            _ = try? runCommand(nft, ["delete", "table", "inet", String(words[2])])
        }
    }
}
