import GrapevineTestSupport
import Addresses
import ArgumentParser
import Foundation
import Netlink

struct DockerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "docker",
        abstract: "`docker run` on a grapevine network until pingable from every other host, against a peer on the same host; 50 containers on one host against Docker's bridge driver.")

    @Option(help: "Host namespaces, each with an agent and a dockerd (2–8).") var hosts = 3
    @Option(help: "Rounds of `docker run` → pingable, rotating the host (1–100).") var runs = 20
    @Option(help: "Containers per batch on host 1 (1–200).") var containers = 50
    @Option(help: "Threads of the concurrent batches (1–32).") var threads = 8
    @Option(help: "Times each of the four batches is run, in alternating order (1–5).") var repeats = 1
    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard (2...8).contains(hosts) else { throw ValidationError("--hosts must be 2–8") }
        guard (1...100).contains(runs) else { throw ValidationError("--runs must be 1–100") }
        guard (1...200).contains(containers) else { throw ValidationError("--containers must be 1–200") }
        guard (1...32).contains(threads) else { throw ValidationError("--threads must be 1–32") }
        guard (1...5).contains(repeats) else { throw ValidationError("--repeats must be 1–5") }
    }

    func run() throws {
        guard geteuid() == 0 else { throw ValidationError("agent-bench needs root (it makes network namespaces and runs dockerd)") }
        for tool in ["dockerd", "docker", "nsenter", "runc", "ping", "tar"] where (try? sh("sh", "-c", "command -v \(tool)")) == nil {
            throw ValidationError("\(tool) is missing; scripts/setup.sh installs docker.io and busybox-static")
        }
        let lab = try DockerLab(executable: common.executable)
        defer { lab.tearDown() }
        var bench = DockerBench(lab: lab, hosts: hosts, runs: runs, containers: containers, threads: threads, repeats: repeats)
        let results = try bench.measure()
        let command = "docker --hosts \(hosts) --runs \(runs) --containers \(containers) --threads \(threads) --repeats \(repeats)"
        print(results.summary())
        guard !common.noWrite else { return }
        let markdown = common.out + "/DOCKER.md"
        try results.markdown(command: command).write(toFile: markdown, atomically: true, encoding: .utf8)
        try results.svg().write(toFile: common.out + "/docker.svg", atomically: true, encoding: .utf8)
        print("wrote \(markdown) and \(common.out)/docker.svg")
    }
}

/// `agent-bench docker`: real dockerds using the agent as their network and IPAM plugin.
struct DockerBench {
    static let network = "gvdb-net"
    static let bridgeNetwork = "gvdb-bridge"
    static let vni = 4242
    static let subnet = "10.79.64.0/20"
    static let bridgeSubnet = "10.20.0.0/24"
    static let step = Pinger.step
    static let cap = Pinger.cap

    struct Batch {
        var driver: String
        var concurrent: Bool
        /// Seconds from the first `docker run` until the last returned.
        var total: Double
        /// Seconds of each `docker run -d`.
        var each: [Double]
        /// Seconds of the one `docker rm -f` of the whole batch.
        var removal: Double
    }

    struct Results {
        var hosts: Int
        var runs: Int
        var containers: Int
        var threads: Int
        var versions = ""
        var conditions = ""
        var networkEverywhere = 0.0
        /// Rounds whose container got an address no container had before.
        var fresh: [Round] = []
        /// Rounds whose container got the address of a container just removed.
        var reused: [Round] = []
        var batches: [Batch] = []
    }

    /// Seconds from the start of `docker run` of one round.
    struct Round {
        var host: Int
        var runReturned: Double
        var inspected: Double
        var rowsEverywhere: Double
        var pingSameHost: Double
        var pingEveryOther: Double
        var pingStarts: Int
        var reusedAddress = false
    }

    let lab: DockerLab
    let hosts: Int
    let runs: Int
    let containers: Int
    let threads: Int
    let repeats: Int
    private var tables: [Int: (table: VXLANTable, device: Int32)] = [:]

    init(lab: DockerLab, hosts: Int, runs: Int, containers: Int, threads: Int, repeats: Int) {
        self.lab = lab
        self.hosts = hosts
        self.runs = runs
        self.containers = containers
        self.threads = threads
        self.repeats = repeats
    }

    mutating func measure() throws -> Results {
        var results = Results(hosts: hosts, runs: runs, containers: containers, threads: threads)
        let load = { (ProcFile.read("/proc/loadavg").map { String(decoding: $0, as: UTF8.self) } ?? "?").split(separator: " ").prefix(3).joined(separator: " ") }
        results.conditions = "load average \(load()) at the start"
        print("docker: \(hosts) host namespaces, an agent and a dockerd in each")
        try lab.buildUnderlay(hosts: hosts)
        try lab.holdPluginSpec()
        for host in 1...hosts {
            try lab.startAgent(host)
            let answered = try lab.startDocker(host)
            print(String(format: "h%ld: agent up, dockerd answered after %.2f s", host, answered))
        }
        results.versions = lab.versions()

        let created = now()
        try lab.docker(1, ["network", "create", "-d", "grapevine", "--ipam-driver", "grapevine", "--subnet", Self.subnet,
                           "-o", "vni=\(Self.vni)", Self.network])
        for host in 2...hosts {
            try waitUntil("\(Self.network) appears on h\(host)", timeout: Self.cap, interval: 0.02) {
                (try lab.docker(host, ["network", "ls", "--format", "{{.Name}} {{.Driver}}"])).contains("\(Self.network) grapevine")
            }
        }
        results.networkEverywhere = now() - created
        print(String(format: "network created on h1, listed by every dockerd after %.0f ms", results.networkEverywhere * 1000))

        let residents = try lab.startResidents(hosts: hosts, network: Self.network, prefix: "gvdb-r")
        var latest: [Int: Box] = [:]
        for round in 1...runs {
            let host = (round - 1) % hosts + 1
            let (box, figures) = try measureRound("gvdb-c\(round)", on: host, residents: residents)
            results.fresh.append(figures)
            latest[host] = box
        }
        // Then, on each host, its last container removed (its rows gone everywhere) and a new one
        // started: it gets the same address, and the same MAC (02:42 + the address).
        for host in 1...hosts {
            guard let old = latest[host] else { continue }
            try remove(old)
            var (box, figures) = try measureRound("gvdb-u\(host)", on: host, residents: residents)
            figures.reusedAddress = box.ip == old.ip
            results.reused.append(figures)
        }
        for host in 1...hosts {
            let mine = (1...runs).filter { ($0 - 1) % hosts + 1 == host && latest[host]?.name != "gvdb-c\($0)" }.map { "gvdb-c\($0)" }
            try lab.docker(host, ["rm", "-f"] + mine + ["gvdb-u\(host)"], timeout: 300)
        }

        try lab.docker(1, ["network", "create", "-d", "bridge", "--subnet", Self.bridgeSubnet, Self.bridgeNetwork])
        let order: [(String, String, Bool)] = [("bridge", Self.bridgeNetwork, false), ("grapevine", Self.network, false),
                                              ("grapevine", Self.network, true), ("bridge", Self.bridgeNetwork, true)]
        for repeat_ in 1...repeats {
            for (driver, network, concurrent) in repeat_ % 2 == 1 ? order : order.reversed() {
                let batch = try measureBatch(driver: driver, network: network, concurrent: concurrent, tag: "b\(repeat_)")
                results.batches.append(batch)
                print(String(format: "%@ %@, %ld containers: %.2f s (removed in %.2f s)", driver, concurrent ? "concurrent" : "sequential",
                             containers, batch.total, batch.removal))
            }
        }
        results.conditions += ", \(load()) at the end"
        return results
    }

    // MARK: docker run → pingable

    private mutating func table(_ host: Int) throws -> (table: VXLANTable, device: Int32) {
        if let known = tables[host] { return known }
        let ns = NetworkNamespace.named(lab.namespace(host))
        guard let device = try LinkSocket(namespace: ns).link(named: "gvx\(Self.vni)")?.ifindex else {
            throw BenchError("no gvx\(Self.vni) in \(lab.namespace(host))")
        }
        let entry = try (table: VXLANTable(namespace: ns), device: device)
        tables[host] = entry
        return entry
    }

    /// The MACs host `host`'s kernel forwards to `vtep`.
    private mutating func macs(on host: Int, to vtep: IPAddress) throws -> Set<MACAddress> {
        let (table, device) = try table(host)
        return Set(try table.fdbRows(device: device).filter { $0.destination == vtep && !$0.mac.isZero }.map(\.mac))
    }

    /// Whether host `host`'s kernel holds a FDB row to `vtep` for a MAC not in `before`, and a
    /// neighbour row for that MAC.
    private mutating func holdsNewRows(_ host: Int, vtep: IPAddress, before: Set<MACAddress>) throws -> Bool {
        let (table, device) = try table(host)
        let fresh = Set(try table.fdbRows(device: device).filter { $0.destination == vtep && !$0.mac.isZero && !before.contains($0.mac) }.map(\.mac))
        guard !fresh.isEmpty else { return false }
        return try table.neighborRows(device: device).contains { $0.mac.map(fresh.contains) ?? false }
    }

    /// Removes `box` and waits until its rows left every other host.
    private mutating func remove(_ box: Box) throws {
        try lab.docker(box.host, ["rm", "-f", box.name])
        guard let mac = MACAddress(box.mac), let vtep = IPAddress(DockerLab.underlay(box.host)) else { throw BenchError("bad \(box)") }
        for other in 1...hosts where other != box.host {
            try waitUntil("\(box.name)'s rows leave h\(other)", timeout: Self.cap, interval: Self.step) { try !macs(on: other, to: vtep).contains(mac) }
        }
    }

    private mutating func measureRound(_ name: String, on host: Int, residents: [Box]) throws -> (Box, Round) {
        let others = (1...hosts).filter { $0 != host }
        guard let vtep = IPAddress(DockerLab.underlay(host)) else { throw BenchError("bad underlay address") }
        var before: [Int: Set<MACAddress>] = [:]
        for other in others { before[other] = try macs(on: other, to: vtep) }

        let base = ["docker", "-H", "unix://\(lab.dockerSocket(host))"]
        let start = now()
        let dockerRun = try launch(base + ["run", "-d", "--network", Self.network, "--name", name, DockerLab.image, "sleep", "100000"], output: Pipe())
        try lab.track(dockerRun)
        var inspecting: Process?
        var box: Box?
        var returned: Double?
        var inspectedAt: Double?
        var rowsAt: Double?
        var pendingRows = Set(others)
        var pingers: [Pinger] = []
        while rowsAt == nil || pingers.isEmpty || pingers.contains(where: { $0.done == nil }) {
            let t = now()
            guard t - start < Self.cap else {
                for p in pingers where p.process.isRunning { kill(p.process.processIdentifier, SIGKILL) }
                throw BenchError("\(name) on h\(host) not pingable everywhere after \(Int(Self.cap)) s "
                                 + "(run returned: \(returned != nil), rows left on \(pendingRows.sorted()), pings done: \(pingers.map { $0.done != nil }))")
            }
            if returned == nil && !dockerRun.isRunning {
                returned = now() - start
                guard dockerRun.terminationStatus == 0 else { throw BenchError("\(name): docker run failed: \(stderr(of: dockerRun))") }
                let process = try launch(base + ["inspect", "-f", DockerLab.inspectFormat(Self.network), name], output: Pipe())
                try lab.track(process)
                inspecting = process
            }
            if let process = inspecting, !process.isRunning {
                inspectedAt = now() - start
                inspecting = nil
                guard process.terminationStatus == 0 else { throw BenchError("\(name): docker inspect failed: \(stderr(of: process))") }
                let found = try lab.parseBox(stdout(of: process), host: host, name: name)
                box = found
                // The same host's resident first: the baseline, on the local bridge.
                for pinger in [residents[host - 1]] + others.map({ residents[$0 - 1] }) {
                    pingers.append(try Pinger.start(pinger, found.ip, lab: lab))
                }
            }
            if rowsAt == nil {
                pendingRows = try pendingRows.filter { try !holdsNewRows($0, vtep: vtep, before: before[$0] ?? []) }
                if pendingRows.isEmpty { rowsAt = now() - start }
            }
            for i in pingers.indices { _ = try pingers[i].poll(at: now() - start, lab: lab) }
            pause(seconds: Self.step)
        }
        guard let box, let returned, let inspectedAt, let rowsAt else { throw BenchError("\(name): incomplete") }
        let same = pingers[0].done ?? 0
        let everyOther = pingers.dropFirst().compactMap(\.done).max() ?? 0
        let starts = pingers.map(\.starts).reduce(0, +)
        print(String(format: "h%ld %@ %@ %@: run returned %.0f ms, inspected %.0f ms, rows on every other host %.0f ms, "
                     + "pingable same host %.0f ms, every other host %.0f ms (%ld ping processes)",
                     host, name, box.ip, box.mac, returned * 1000, inspectedAt * 1000, rowsAt * 1000, same * 1000, everyOther * 1000, starts))
        return (box, Round(host: host, runReturned: returned, inspected: inspectedAt, rowsEverywhere: rowsAt,
                           pingSameHost: same, pingEveryOther: everyOther, pingStarts: starts))
    }

    // MARK: Many containers on one host

    /// The shared state of the concurrent batch's threads.
    private final class BatchState: @unchecked Sendable {
        private let lock = NSLock()
        private var nextIndex = 0
        private let count: Int
        private(set) var each: [Double]
        private(set) var errors: [String] = []

        init(count: Int) {
            self.count = count
            each = Array(repeating: 0, count: count)
        }

        func next() -> Int? {
            lock.withLock {
                guard errors.isEmpty, nextIndex < count else { return nil }
                defer { nextIndex += 1 }
                return nextIndex
            }
        }

        func record(_ index: Int, _ seconds: Double) { lock.withLock { each[index] = seconds } }
        func fail(_ error: any Error) { lock.withLock { errors.append("\(error)") } }
        var snapshot: (each: [Double], errors: [String]) { lock.withLock { (each, errors) } }
    }

    private func measureBatch(driver: String, network: String, concurrent: Bool, tag: String) throws -> Batch {
        let names = (1...containers).map { "gvdb-\(tag)-\(driver.prefix(1))\(concurrent ? "c" : "s")\($0)" }
        let state = BatchState(count: containers)
        let lab = self.lab
        let image = DockerLab.image
        let work: @Sendable () -> Void = {
            while let i = state.next() {
                let t = now()
                do {
                    try lab.docker(1, ["run", "-d", "--network", network, "--name", names[i], image, "sleep", "100000"])
                    state.record(i, now() - t)
                } catch {
                    state.fail(error)
                }
            }
        }
        let start = now()
        if concurrent {
            let finished = DispatchSemaphore(value: 0)
            for _ in 0..<threads {
                let thread = Thread {
                    work()
                    finished.signal()
                }
                thread.start()
            }
            for _ in 0..<threads where finished.wait(timeout: .now() + 600) == .timedOut {
                throw BenchError("\(driver) concurrent batch: a thread did not finish in 600 s")
            }
        } else {
            work()
        }
        let total = now() - start
        let (each, errors) = state.snapshot
        guard errors.isEmpty else { throw BenchError("\(driver) batch: \(errors.first ?? "")") }

        // Every container runs, each with its own address.
        let text = try lab.docker(1, ["inspect", "-f", "{{.State.Running}} {{(index .NetworkSettings.Networks \"\(network)\").IPAddress}}"] + names)
        let lines = text.split(separator: "\n")
        let addresses = Set(lines.compactMap { $0.split(separator: " ").last })
        guard lines.count == containers, lines.allSatisfy({ $0.hasPrefix("true ") }), addresses.count == containers else {
            throw BenchError("\(driver) batch: not \(containers) running containers with distinct addresses: \(text)")
        }
        let removing = now()
        try lab.docker(1, ["rm", "-f"] + names, timeout: 600)
        return Batch(driver: driver, concurrent: concurrent, total: total, each: each, removal: now() - removing)
    }
}

// MARK: Report

extension DockerBench.Results {
    private func batches(_ driver: String, concurrent: Bool) -> [DockerBench.Batch] {
        batches.filter { $0.driver == driver && $0.concurrent == concurrent }
    }

    /// Median of the batches' totals (one batch: its total).
    func total(_ driver: String, concurrent: Bool) -> Double {
        Summary(batches(driver, concurrent: concurrent).map(\.total))?.median ?? 0
    }

    static func rows(_ rounds: [DockerBench.Round]) -> [(String, [Double])] {
        [("`docker run -d` returned", rounds.map(\.runReturned)),
         ("`docker inspect` returned (address known)", rounds.map(\.inspected)),
         ("every other host's kernel has the FDB + neighbour rows", rounds.map(\.rowsEverywhere)),
         ("pingable from the same host (local bridge, baseline)", rounds.map(\.pingSameHost)),
         ("pingable from every other host (overlay)", rounds.map(\.pingEveryOther))]
    }

    var rows: [(String, [Double])] { Self.rows(fresh) }

    /// Median of every other host over median of the same host.
    static func overlayRatio(_ rounds: [DockerBench.Round]) -> String {
        ratio(Summary(rounds.map(\.pingEveryOther))?.median ?? 0, Summary(rounds.map(\.pingSameHost))?.median ?? 0)
    }

    static func table(_ rounds: [DockerBench.Round]) -> String {
        var text = """
        | from the start of `docker run` until | median (ms) | p90 (ms) | max (ms) | median vs same host |
        | --- | ---: | ---: | ---: | ---: |

        """
        let sameMedian = Summary(rounds.map(\.pingSameHost))?.median ?? 0
        for (name, values) in rows(rounds) {
            guard let s = Summary(values) else { continue }
            text += "| \(name) | \(ms(s.median)) | \(ms(s.p90)) | \(ms(s.max)) | \(ratio(s.median, sameMedian)) |\n"
        }
        return text
    }

    static func each(_ rounds: [DockerBench.Round]) -> String {
        func list(_ values: [Double]) -> String { values.map(ms).joined(separator: ", ") }
        return "host \(rounds.map { "h\($0.host)" }.joined(separator: ", ")); run returned \(list(rounds.map(\.runReturned))); "
            + "rows \(list(rounds.map(\.rowsEverywhere))); same host \(list(rounds.map(\.pingSameHost))); "
            + "every other host \(list(rounds.map(\.pingEveryOther))); ping processes \(rounds.map { String($0.pingStarts) }.joined(separator: ", "))"
    }

    func summary() -> String {
        var text = ""
        for (title, rounds) in [("new address", fresh), ("address reused", reused)] {
            text += "\(title):\n"
            for (name, values) in Self.rows(rounds) {
                if let s = Summary(values) { text += "  \(name): median \(ms(s.median)) ms, p90 \(ms(s.p90)) ms, max \(ms(s.max)) ms\n" }
            }
            text += "  every other host / same host (medians): \(Self.overlayRatio(rounds))\n"
        }
        for concurrent in [false, true] {
            text += "\(containers) containers \(concurrent ? "concurrent" : "sequential"): grapevine / bridge "
            text += "\(ratio(total("grapevine", concurrent: concurrent), total("bridge", concurrent: concurrent)))\n"
        }
        return text
    }

    func markdown(command: String) -> String {
        let kernel = (try? sh("uname", "-r").trimmingCharacters(in: .whitespacesAndNewlines)) ?? "?"
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let date = ISO8601DateFormatter().string(from: Date())
        var text = """
        # Docker: `docker run` on a grapevine network

        Written by `agent-bench docker` (Benchmarks/agent-bench), release build, as root, on \(date): Linux \(kernel),
        \(cores) cores shared with other work (\(conditions)); \(versions); busybox-static imported as the image.
        Absolute figures on this shared machine move between runs; the ratios are measured in the same run,
        on the same dockerds. Rerun with (needs `docker.io` and `busybox-static`, see scripts/setup.sh):

            swift build -c release --product agent-bench --product grapevine
            .build/release/agent-bench \(command)

        Setup, all made by the benchmark and removed at its end (also on an error or SIGINT): \(hosts) host
        namespaces `gvdb-<pid>-h<i>` on one switch (10.79.0.i/24), in each a `grapevine agent --docker` serving
        the plugin on 127.0.0.1:9801 inside the namespace and a `dockerd` of its own in the same namespace
        (`nsenter --net`, own data and exec roots, `--bridge=none --iptables=false --storage-driver=vfs`, the
        recipe of Docs/DOCKER-TESTING.md), which finds the plugin through `/etc/docker/plugins/grapevine.spec`
        (held under the tests' shared lock). One network made on host 1,
        `docker network create -d grapevine --ipam-driver grapevine --subnet \(DockerBench.subnet) -o vni=\(DockerBench.vni)`,
        was listed by every other dockerd after \(ms(networkEverywhere)) ms (polled every 20 ms with `docker network ls`).

        ## `docker run` until pingable, \(hosts) hosts

        One resident `sleep` container per host on the network (the pingers; ARP retransmit 10 ms in them, as in
        `agent-bench propagation`). \(runs) rounds, rotating the host: `docker run -d --network \(DockerBench.network) IMAGE sleep`.
        The clock starts just before the `docker` CLI process is started. Once it returns, `docker inspect` gives
        the address; then the resident on the **same host** (baseline: the local bridge, no gossip) and the residents
        on **every other host** ping it at once, from their network namespaces (`nsenter --net=/proc/PID/ns/net ping -i 0.01 -c 1`,
        started again if it gives up), the state polled every 10 ms, 60 s cap. Independently, from the same start, the
        other hosts' kernels are read by netlink every 10 ms until each holds a new FDB row (MAC → the host's VTEP)
        and its neighbour row. The containers stay until the end of this part, so each round's container has an
        address no container had before.

        """
        text += "\n" + Self.table(fresh)
        text += """

        **Ratio, pingable from every other host / from the same host (medians): \(Self.overlayRatio(fresh)).**

        Every round (ms), in order: \(Self.each(fresh)) (\(hosts) ping processes when none had to be started again).

        ### An address used again

        Then, on each host, its last container is removed (`docker rm -f`, and its rows gone from every other
        host's kernel) and a new one is started the same way: it gets the same address
        (\(reused.filter(\.reusedAddress).count) of \(reused.count) rounds) and, since the driver derives the MAC from the
        address as Docker's `bridge` driver does, the same MAC, which the residents still hold in their ARP caches.
        (With a MAC per endpoint, as the driver first had, this case took 6.8 to 48.4 s, until those caches expired.)

        """
        text += "\n" + Self.table(reused)
        text += """

        Ratio every other host / same host (medians): \(Self.overlayRatio(reused)). Every round (ms): \(Self.each(reused)).

        ## \(containers) containers on one host: grapevine against Docker's `bridge` driver

        On host 1's dockerd (the other hosts' agents and dockerds running, so the grapevine endpoints are
        gossiped and every block claim asks them), \(containers) `docker run -d --network NET IMAGE sleep` on the
        grapevine network above and on a user-defined bridge network of the same dockerd
        (`docker network create -d bridge --subnet \(DockerBench.bridgeSubnet)`): one after the other, and from
        \(threads) threads at once. Each batch is checked (every container running, \(containers) distinct
        addresses) and removed with one `docker rm -f` before the next; the order of the batches alternates
        between repeats.

        | driver | launch | total (s) | per container (ms) | one `docker run` median (ms) | p90 (ms) | `docker rm -f` of all (s) |
        | --- | --- | ---: | ---: | ---: | ---: | ---: |

        """
        for b in batches {
            let s = Summary(b.each)
            text += "| \(b.driver) | \(b.concurrent ? "\(threads) threads" : "sequential") | \(String(format: "%.2f", b.total)) | "
            text += "\(ms(b.total / Double(containers))) | \(s.map { ms($0.median) } ?? "–") | \(s.map { ms($0.p90) } ?? "–") | "
            text += "\(String(format: "%.2f", b.removal)) |\n"
        }
        text += """

        **Ratio grapevine / bridge, time for \(containers) containers: sequential \(ratio(total("grapevine", concurrent: false), total("bridge", concurrent: false))), \
        \(threads) threads \(ratio(total("grapevine", concurrent: true), total("bridge", concurrent: true))).**

        ![docker run until pingable, and 50 containers against the bridge driver](docker.svg)

        """
        return text
    }

    /// Two panels: the round medians (bar) and p90 (tick), then the batches' totals.
    func svg() -> String {
        let width = 780.0
        let left = 330.0
        let barHeight = 16.0
        let gap = 5.0
        let usable = width - left - 110
        var body = ""
        var y = 40.0
        let maxRound = rows.compactMap { Summary($0.1)?.p90 }.max() ?? 1
        let colors = ["#9aa5b1", "#9aa5b1", "#7fb3d5", "#9aa5b1", "#1f6fb2"]
        body += "<text x=\"8\" y=\"\(y + 12)\" font-weight=\"bold\">docker run until … (\(hosts) hosts, \(runs) rounds; bar median, tick p90, ms)</text>\n"
        y += barHeight + gap
        for (i, (name, values)) in rows.enumerated() {
            guard let s = Summary(values) else { continue }
            let length = usable * s.median / Swift.max(maxRound, 1e-9)
            let tick = left + usable * s.p90 / Swift.max(maxRound, 1e-9)
            let label = name.replacingOccurrences(of: "`", with: "").replacingOccurrences(of: " (local bridge, baseline)", with: " (baseline)")
                .replacingOccurrences(of: "every other host's kernel has the FDB + neighbour rows", with: "rows in every other host's kernel")
                .replacingOccurrences(of: " (address known)", with: "")
            body += "<text x=\"\(left - 6)\" y=\"\(y + 12)\" text-anchor=\"end\">\(label)</text>\n"
            body += "<rect x=\"\(left)\" y=\"\(y)\" width=\"\(String(format: "%.1f", length))\" height=\"\(barHeight)\" fill=\"\(colors[i % colors.count])\"/>\n"
            body += "<line x1=\"\(String(format: "%.1f", tick))\" x2=\"\(String(format: "%.1f", tick))\" y1=\"\(y - 2)\" y2=\"\(y + barHeight + 2)\" stroke=\"black\"/>\n"
            body += "<text x=\"\(String(format: "%.1f", tick + 6))\" y=\"\(y + 12)\">\(ms(s.median)) ms</text>\n"
            y += barHeight + gap
        }
        y += 14
        body += "<text x=\"8\" y=\"\(y + 12)\" font-weight=\"bold\">\(containers) containers on one host, time to start all (s, lower is better)</text>\n"
        y += barHeight + gap
        let maxBatch = batches.map(\.total).max() ?? 1
        for concurrent in [false, true] {
            for driver in ["bridge", "grapevine"] {
                let total = total(driver, concurrent: concurrent)
                let length = usable * total / Swift.max(maxBatch, 1e-9)
                let label = "\(driver), \(concurrent ? "\(threads) threads" : "sequential")"
                body += "<text x=\"\(left - 6)\" y=\"\(y + 12)\" text-anchor=\"end\">\(label)</text>\n"
                body += "<rect x=\"\(left)\" y=\"\(y)\" width=\"\(String(format: "%.1f", length))\" height=\"\(barHeight)\" fill=\"\(driver == "bridge" ? "#9aa5b1" : "#1f6fb2")\"/>\n"
                body += "<text x=\"\(String(format: "%.1f", left + length + 4))\" y=\"\(y + 12)\">\(String(format: "%.2f s", total))</text>\n"
                y += barHeight + gap
            }
            y += 6
        }
        let height = y + 14
        return """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="8" y="20" font-size="14" font-weight="bold">grapevine as Docker's network and IPAM plugin</text>
        \(body)</svg>

        """
    }
}
