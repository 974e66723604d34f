// Replicated state on the simulator and in one replica: time from an endpoint change at one host
// until every host holds it (100 and 1,000 hosts), bytes on the wire per change, the bytes of one
// anti-entropy exchange when two replicas of 20,000 rows differ by 1 and by 1,000 rows, and a
// replica's memory per 1,000 rows. Writes Docs/benchmarks/STATE-SIMULATION.md with a chart.
//
//   swift run -c release state-sim-bench [--sizes 100,1000] [--changes 20] [--lazy-trees 1] [--out Docs/benchmarks]
//
// Every figure is measured in this run; each baseline (the push-gossip bound, one copy per host,
// the table's own size, the rows' encoded size) is computed beside it.
import Addresses
import Foundation
import GossipCore
import GossipSimulator
import Overlay
import StateBenchHeap

let args = CommandLine.arguments
func option(_ name: String) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}
let outDir = option("--out") ?? "Docs/benchmarks"
let sizes = (option("--sizes") ?? "100,1000").split(separator: ",").compactMap { Int($0) }
let changeCount = Int(option("--changes") ?? "20") ?? 20
let settings = {
    var s = Settings()
    // `--lazy-trees N`: the trees announcements go along (`Settings.stateLazyTrees`).
    if let n = option("--lazy-trees").flatMap({ Int($0) }) { s.stateLazyTrees = n }
    return s
}()
let networks = (0..<5).map { VNI(4096 + UInt32($0))! }

func f(_ x: Double, _ d: Int = 1) -> String { Chart.fixed(x, d) }
func median(_ xs: [Double]) -> Double { xs.isEmpty ? .nan : xs.sorted()[xs.count / 2] }

/// Host `i`'s endpoint `slot` (4 per network) as an overlay row, at claim time `time`.
func endpointRow(host i: Int, slot: Int, ip: UInt32, time: UInt64, owner: String) -> OverlayRow {
    .endpoint(Endpoint(network: networks[slot / 4], mac: MACAddress(value: 0x0200_0000_0000 | UInt64(i) << 16 | UInt64(slot)),
                       ipv4: .v4(0x6400_0000 | ip), name: "c\(i)-\(slot)", claim: Claim(time: time, owner: owner)))
}

/// The push-gossip bound on rounds (Serf's way; Pittel 1987, Frieze and Grimmett 1985), as in
/// event-sim-bench: log₄(N) + ln(N)/3 gossip rounds of 200 ms.
func pushBoundMilliseconds(_ n: Int) -> Double {
    let k = Double(settings.gossipNodes)
    let rounds = Foundation.log(Double(n)) / Foundation.log(k + 1) + Foundation.log(Double(n)) / k
    return rounds * Double(settings.gossipInterval.nanoseconds) / 1e6
}

// MARK: propagation and bytes per change

struct Propagation {
    var n: Int
    var latencies: [Double] = []  // ms, write → last host
    var missed = 0
    var rowBytesPerChange = 0.0  // state-row messages, framed
    var udpBytesPerChange = 0.0  // every datagram byte in the change windows, less an idle window's
    var rowBytes = 0  // one row's framed size
    var convergeSeconds = 0.0  // virtual time, after the last host published, until every replica holds every row
    var healSeconds = 0.0  // virtual time, after a 60 s split with writes on both sides healed, until every replica agrees
    var repairs = 0  // repair requests sent (gaps and announcements), every host, whole run
    var announcementBytesPerChange = 0.0  // state-newest messages (type 14), framed
    var wall: Duration = .zero
}

func propagation(n: Int, seed: UInt64) throws -> Propagation {
    let started = ContinuousClock.now
    let sim = Simulation(seed: seed, settings: settings, network: NetworkModel(loss: 0.05))
    let nodes = try sim.addFormedCluster(count: n)
    var ip: UInt32 = 0
    var clock: UInt64 = 0
    // Hosts publish one after another over a minute, as agents starting on a cluster do.
    let step = Duration.seconds(60) / n
    for i in nodes {
        sim.run(for: step)
        let name = sim.name(of: i)
        let host = OverlayRow.host(vtep: .v4(0x0A00_0000 | UInt32(i + 1)), networks: Set(networks))
        sim.writeRow(i, table: OverlayRow.table, key: host.stateKey, value: try host.value())
        for slot in 0..<20 {
            ip += 1
            clock += 1
            let row = endpointRow(host: i, slot: slot, ip: ip, time: clock, owner: name)
            sim.writeRow(i, table: OverlayRow.table, key: row.stateKey, value: try row.value())
        }
    }
    // Until every replica holds every owner's rows, checked by digest hash; while the first
    // replica still behind stays behind, the others need no check.
    var pending = Array(nodes)
    let start = sim.elapsed
    func behind(_ js: [Int]) -> [Int] {
        let truth = nodes.map { sim.core($0).stateHash(of: sim.name(of: $0)) }
        return js.filter { j in
            let c = sim.core(j)
            return nodes.contains { c.stateHash(of: sim.name(of: $0)) != truth[$0] }
        }
    }
    while !pending.isEmpty {
        sim.run(for: .seconds(1))
        if !behind([pending[0]]).isEmpty { continue }
        pending = behind(pending)
    }
    var r = Propagation(n: n)
    r.convergeSeconds = Double((sim.elapsed - start).nanoseconds) / 1e9
    sim.run(for: .seconds(60))  // the load's gossip retransmits end

    var received: [String: Int] = [:]
    var lastAt: [String: Duration] = [:]
    sim.observeApplication { _, o in
        guard case .rowChanged(let c) = o, let row = c.row else { return }
        let id = "\(row.owner)/\(row.key)@\(row.version)"
        received[id, default: 0] += 1
        lastAt[id] = sim.elapsed
    }
    var rowBytes = 0
    var announcementBytes = 0
    sim.transport = { _, messages in
        for m in messages {
            if case .stateRow = m { rowBytes += m.encodedSize }
            if case .stateNewest = m { announcementBytes += m.encodedSize }
        }
        return messages
    }
    let window = Duration.seconds(3)
    let idleBefore = sim.metrics.bytesSent
    sim.run(for: window * changeCount)
    let idle = sim.metrics.bytesSent - idleBefore
    rowBytes = 0
    announcementBytes = 0
    let before = sim.metrics.bytesSent
    var rng = SeededGenerator(seed: seed ^ 0x57a7e)
    for _ in 0..<changeCount {
        let i = rng.index(below: n)
        let name = sim.name(of: i)
        ip += 1
        clock += 1
        let row = endpointRow(host: i, slot: rng.index(below: 20), ip: ip, time: clock, owner: name)
        let value = try row.value()
        r.rowBytes = Message.stateRow(StateRow(table: OverlayRow.table, owner: name, key: row.stateKey, version: 1 << 20, value: value)).encodedSize
        let writtenAt = sim.elapsed
        sim.writeRow(i, table: OverlayRow.table, key: row.stateKey, value: value)
        sim.run(for: window)
        let version = sim.core(i).stateVersion
        let id = "\(name)/\(row.stateKey)@\(version)"
        // The writer reports its own row too: every host, the writer included.
        if received[id] == n, let last = lastAt[id] {
            r.latencies.append(Double((last - writtenAt).nanoseconds) / 1e6)
        } else {
            r.missed += 1
        }
    }
    r.rowBytesPerChange = Double(rowBytes) / Double(changeCount)
    r.announcementBytesPerChange = Double(announcementBytes) / Double(changeCount)
    r.udpBytesPerChange = Double(sim.metrics.bytesSent - before - idle) / Double(changeCount)
    r.latencies.sort()

    // A partition heal: the hosts split in two halves for 60 s, a host on each side changing an
    // endpoint every second; then the network heals, and the time runs until every replica
    // holds the same rows of every owner (each side declares the other failed meanwhile).
    sim.run(for: .seconds(10))
    sim.partition { $0 < n / 2 ? 0 : 1 }
    for _ in 0..<60 {
        for side in 0..<2 {
            let i = side * (n / 2) + rng.index(below: n / 2)
            let name = sim.name(of: i)
            ip += 1
            clock += 1
            let row = endpointRow(host: i, slot: rng.index(below: 20), ip: ip, time: clock, owner: name)
            sim.writeRow(i, table: OverlayRow.table, key: row.stateKey, value: try row.value())
        }
        sim.run(for: .seconds(1))
    }
    sim.heal()
    let healedAt = sim.elapsed
    pending = Array(nodes)
    while !pending.isEmpty, sim.elapsed - healedAt < .seconds(300) {
        sim.run(for: .milliseconds(500))
        if !behind([pending[0]]).isEmpty { continue }
        pending = behind(pending)
    }
    r.healSeconds = Double((sim.elapsed - healedAt).nanoseconds) / 1e9
    r.repairs = nodes.reduce(0) { $0 + sim.core($1).counters.stateRepairs }
    r.wall = ContinuousClock.now - started
    return r
}

// MARK: one exchange's bytes

struct Exchange {
    var differing: Int
    var requestDigest = 0
    var replyDigest = 0
    var replyRows = 0
    var followUpRows = 0
    var rowsSent = 0
    var tableBytes = 0
    var differenceBytes = 0
}

/// Two replicas of 1,000 owners × 20 rows; the responder holds `differing` newer rows the
/// requester lacks (the latest writes of random rows). The bytes are those of the sections one
/// exchange carries, built by the code the router runs (`rows(differingFrom:)`, the section
/// chunking); framing of the stream around them is left out.
func exchange(differing: Int, seed: UInt64) -> Exchange {
    var requester = ReplicatedState()
    var responder = ReplicatedState()
    var e = Exchange(differing: differing)
    var versions = [UInt64](repeating: 0, count: 1_000)
    var latest: [String: StateRow] = [:]
    func write(_ row: StateRow, both: Bool) {
        _ = responder.apply(row, now: .zero, rowsPerOwner: 4096, tables: 64)
        if both { _ = requester.apply(row, now: .zero, rowsPerOwner: 4096, tables: 64) }
        latest["\(row.owner)/\(row.key)"] = row
    }
    for o in 0..<1_000 {
        for slot in 0..<20 {
            versions[o] += 1
            let row = endpointRow(host: o, slot: slot, ip: UInt32(o * 20 + slot + 1), time: versions[o], owner: "host-\(o)")
            write(StateRow(table: OverlayRow.table, owner: "host-\(o)", key: row.stateKey, version: versions[o], value: try! row.value()), both: true)
        }
    }
    var rng = SeededGenerator(seed: seed)
    var changed = Set<String>()
    while changed.count < differing {
        let o = rng.index(below: 1_000)
        let slot = rng.index(below: 20)
        let key = endpointRow(host: o, slot: slot, ip: 1, time: 0, owner: "").stateKey
        guard changed.insert("host-\(o)/\(key)").inserted else { continue }
        versions[o] += 1
        let row = endpointRow(host: o, slot: slot, ip: UInt32(100_000 + changed.count), time: versions[o], owner: "host-\(o)")
        write(StateRow(table: OverlayRow.table, owner: "host-\(o)", key: key, version: versions[o], value: try! row.value()), both: false)
    }
    func size(_ sections: [PushPullSection]) -> Int { sections.reduce(0) { $0 + $1.encodedSize } }
    let requestDigest = requester.digest()
    let replyDigest = responder.digest()
    e.requestDigest = size(GossipInstance.stateDigestSections(requestDigest))
    e.replyDigest = size(GossipInstance.stateDigestSections(replyDigest))
    let toRequester = responder.rows(differingFrom: Dictionary(uniqueKeysWithValues: requestDigest.map { ($0.owner, $0) }))
    e.replyRows = size(GossipInstance.stateRowSections(toRequester))
    for r in toRequester { _ = requester.apply(r, now: .zero, rowsPerOwner: 4096, tables: 64) }
    let toResponder = requester.rows(differingFrom: Dictionary(uniqueKeysWithValues: replyDigest.map { ($0.owner, $0) }))
    e.followUpRows = toResponder.isEmpty ? 0 : size(GossipInstance.stateRowSections(toResponder))
    e.rowsSent = toRequester.count + toResponder.count
    precondition(requester.digest() == responder.digest(), "one exchange made the replicas equal")
    e.tableBytes = size(GossipInstance.stateRowSections(latest.values.sorted { $0.version < $1.version }))
    e.differenceBytes = size(GossipInstance.stateRowSections(changed.sorted().map { latest[$0]! }))
    return e
}

// MARK: memory

/// Heap bytes a replica of 20,000 rows (1,000 owners × 20) holds, each row's key and value in
/// buffers of its own (as rows decoded from datagrams are), against their encoded size.
func memory() -> (perThousand: Double, encodedPerThousand: Double) {
    func heap() -> Int { Int(state_bench_heap_in_use()) }
    var rows: [StateRow] = []
    rows.reserveCapacity(20_000)
    var encoded = 0
    for o in 0..<1_000 {
        for slot in 0..<20 {
            let row = endpointRow(host: o, slot: slot, ip: UInt32(o * 20 + slot + 1), time: 1, owner: "host-\(o)")
            let r = StateRow(table: OverlayRow.table, owner: "host-\(o)", key: row.stateKey, version: UInt64(slot + 1), value: try! row.value())
            encoded += Message.stateRow(r).encodedSize
            rows.append(r)
        }
    }
    let before = heap()
    var replica = ReplicatedState()
    for r in rows {
        // Fresh buffers, as the decoder gives each row; the owner's name is shared by its rows
        // in a replica only through the owner's entry.
        let copy = StateRow(table: r.table, owner: r.owner, key: String(decoding: Array(r.key.utf8), as: UTF8.self),
                            version: r.version, value: Array(r.value))
        _ = replica.apply(copy, now: .zero, rowsPerOwner: 4096, tables: 64)
    }
    let held = heap() - before
    withExtendedLifetime(replica) {}
    return (Double(held) / 20, Double(encoded) / 20)
}

// MARK: run

var propagations: [Propagation] = []
for n in sizes {
    let p = try propagation(n: n, seed: 1)
    propagations.append(p)
    print("n=\(n): median \(f(median(p.latencies))) ms max \(f(p.latencies.last ?? .nan)) ms missed \(p.missed), "
        + "row bytes/change \(f(p.rowBytesPerChange, 0)), udp bytes/change \(f(p.udpBytesPerChange, 0)), "
        + "announcement bytes/change \(f(p.announcementBytesPerChange, 0)), "
        + "initial load \(f(p.convergeSeconds)) s, heal \(f(p.healSeconds)) s, repairs \(p.repairs) (wall \(p.wall))")
}
let exchanges = [1, 1_000].map { exchange(differing: $0, seed: 7) }
for e in exchanges {
    print("differing \(e.differing): digests \(e.requestDigest)+\(e.replyDigest) B, rows \(e.replyRows)+\(e.followUpRows) B (\(e.rowsSent) rows), table \(e.tableBytes) B")
}
let mem = memory()
print("memory per 1,000 rows: \(f(mem.perThousand, 0)) B held, \(f(mem.encodedPerThousand, 0)) B encoded")

var md = """
    # Replicated state on the simulator

    Measured by `swift run -c release state-sim-bench` (Benchmarks/state-sim-bench), seed 1, default
    LAN settings, 5 % loss on every datagram. Each host publishes the overlay's rows (`OverlayRow`,
    table `overlay`): its host row and 20 endpoints in 5 networks, so a replica holds 21 rows per host.

    ## Time from a change to the last host, and bytes per change

    A formed cluster of N hosts that publish their rows one after another over a minute ("initial
    load": from the last publish until every replica holds every row); once the load's gossip has
    ended, \(changeCount) endpoint changes (a new IPv4 for one endpoint) from random hosts, 3 s apart.
    Latency runs from the write until the last host applied the row (the writer included). Row bytes
    are the state-row messages sent per change (eager pushes and gossip, framed); UDP bytes are every
    datagram byte sent in the change windows less those of an idle window as long (probes, their acks
    and the datagrams' headers included). The baselines: the push-gossip bound on rounds (how Serf
    spreads an update: log₄N + ln N / 3 gossip rounds of 200 ms), and one copy of the row per host,
    the least any dissemination can send.

    | hosts | median | max | missed | push-gossip bound | bound / median | row bytes per change | one copy per host | ratio | announcement bytes per change | ratio with them | UDP bytes per change | initial load spread in | heal |
    | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |

    """
for p in propagations {
    let bound = pushBoundMilliseconds(p.n)
    let least = Double(p.rowBytes * (p.n - 1))
    md += "| \(p.n) | \(f(median(p.latencies))) ms | \(f(p.latencies.last ?? .nan)) ms | \(p.missed) | \(f(bound)) ms | \(f(bound / median(p.latencies), 0))× "
        + "| \(f(p.rowBytesPerChange, 0)) | \(f(least, 0)) | \(f(p.rowBytesPerChange / least, 1))× "
        + "| \(f(p.announcementBytesPerChange, 0)) | \(f((p.rowBytesPerChange + p.announcementBytesPerChange) / least, 1))× "
        + "| \(f(p.udpBytesPerChange, 0)) | \(f(p.convergeSeconds)) s | \(f(p.healSeconds)) s |\n"
}
md += """

    Rows travel along three spanning trees rooted at their owner (Docs/benchmarks/STATE-TREES.md),
    so the row bytes sit near three copies per host; announcements (message type 14, an owner's
    newest version sent lazily along a fourth tree) let a replica that missed a write ask for it
    (gap repair). Heal: after the changes, the hosts split in two halves for 60 s while a host on
    each side changes an endpoint every second; from the heal until every replica holds the same
    rows of every owner (checked every 0.5 s, at most 300 s). The UDP column subtracts an idle window that is not
    quite idle (the initial load's last repairs and push/pulls fall in it), so it can come out
    below the row bytes, as at 1,000 hosts; the row bytes are the figure to trust.

    ## One anti-entropy exchange

    Two replicas of 1,000 hosts × 20 endpoint rows (20,000 rows); the responder holds the newest
    version of `differing` random rows that the requester lacks. Bytes are those of the sections
    one exchange carries, built by the code the router runs (`ReplicatedState.rows(differingFrom:)`
    and the section chunking); after it both replicas hold the same digest (checked). The
    baselines: the whole table as rows, and the differing rows alone.

    | differing rows | request digest | reply digest | reply rows | follow-up rows | rows sent | the differing rows alone | the whole table |
    | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |

    """
for e in exchanges {
    md += "| \(e.differing) | \(e.requestDigest) B | \(e.replyDigest) B | \(e.replyRows) B | \(e.followUpRows) B | \(e.rowsSent) | \(e.differenceBytes) B | \(e.tableBytes) B |\n"
}
md += """

    The rows sent are exactly the differing ones: of an owner whose hash differs, the side holding
    newer versions sends what is newer than the other's newest (Docs/WIRE-FORMAT.md, "Replicated-state
    sync"). The digests cost what the owners number (about 20 bytes each), not the rows.

    ## Memory

    One replica of the same 20,000 rows, each row's key and value in buffers of its own as the
    decoder gives them: \(f(mem.perThousand, 0)) bytes of heap per 1,000 rows, against
    \(f(mem.encodedPerThousand, 0)) bytes per 1,000 rows encoded as state-row messages
    (\(f(mem.perThousand / mem.encodedPerThousand, 2))×; the goal is 2×). Measured with glibc's
    `mallinfo2` around the replica's construction.

    ![latency](state-simulation.svg)
    """
let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
let series = propagations.enumerated().map { i, p in
    Chart.Series(label: "N=\(p.n)", color: colors[i % colors.count],
                 points: p.latencies.enumerated().map { (x: Double($0.offset + 1), y: $0.element) })
}
let svg = Chart.svg(series: series, title: "Endpoint change to last host, \(changeCount) changes each (sorted)", xLabel: "change (sorted)", yLabel: "ms")
try md.write(toFile: "\(outDir)/STATE-SIMULATION.md", atomically: true, encoding: .utf8)
try svg.write(toFile: "\(outDir)/state-simulation.svg", atomically: true, encoding: .utf8)
print("wrote \(outDir)/STATE-SIMULATION.md")
