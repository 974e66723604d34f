// netlink-bench: how fast the Netlink module writes and dumps FDB and neighbour rows, next to
// the kernel's own tools doing the same in the same run. Release build, as root:
//
//   swift build -c release --scratch-path .build-netlink --product netlink-bench
//   .build-netlink/release/netlink-bench [--sizes 10000,100000] [--runs 3] [--requests-per-send 256] [--no-write]
//
// Everything happens in a network namespace the benchmark creates and always deletes; the
// VXLAN device stays down, so no packet leaves it.
import GrapevineTestSupport
import Foundation
import Netlink

struct Options {
    var sizes = [10_000, 100_000]
    var runs = 3
    var requestsPerSend = 256
    var write = true
    var markdown = "Docs/benchmarks/NETLINK.md"
    var svg = "Docs/benchmarks/netlink.svg"

    init(_ arguments: [String]) throws {
        var rest = arguments.dropFirst()
        while let flag = rest.popFirst() {
            switch flag {
            case "--sizes":
                sizes = (rest.popFirst() ?? "").split(separator: ",").compactMap { Int($0) }
            case "--runs":
                runs = max(1, Int(rest.popFirst() ?? "") ?? 3)
            case "--requests-per-send":
                requestsPerSend = max(1, Int(rest.popFirst() ?? "") ?? 256)
            case "--no-write":
                write = false
            case "--out":
                markdown = rest.popFirst() ?? markdown
            case "--svg":
                svg = rest.popFirst() ?? svg
            default:
                throw BenchError("\(flag): unknown option")
            }
        }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 > 0 && $0 <= 1_000_000 }) else {
            throw BenchError("--sizes: sizes must be 1...1000000")
        }
    }
}

struct Measurement {
    var rows: String
    var count: Int
    var contender: String
    var seconds: Double
    var sends: Int?
    var rate: Double { Double(count) / seconds }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

final class Bench {
    let namespace: String
    let options: Options
    let links: LinkSocket
    let table: VXLANTable
    let singleTable: VXLANTable
    var results: [Measurement] = []
    var dumps: [(what: String, count: Int, seconds: Double)] = []
    /// Share of the Netlink dumps' CPU time spent in our process (parsing) rather than the kernel.
    var dumpUserShare: [String: Double] = [:]

    init(namespace: String, options: Options) throws {
        self.namespace = namespace
        self.options = options
        links = try LinkSocket(namespace: .named(namespace))
        table = try VXLANTable(namespace: .named(namespace), requestsPerSend: options.requestsPerSend)
        singleTable = try VXLANTable(namespace: .named(namespace), requestsPerSend: 1)
    }

    /// A new, empty vx0, so that every run creates rows rather than finding them.
    func freshDevice() throws -> Int32 {
        if try links.link(named: "vx0") != nil { try links.delete("vx0") }
        return try links.createVXLAN(named: "vx0", VXLANSettings(vni: 42, local: IPAddress("192.0.2.254"), port: 4789)).ifindex
    }

    func expectRows(_ kind: String, _ expected: Int, device: Int32) throws {
        let found = kind == "FDB"
            ? try table.fdbRows(device: device).count
            : try table.neighborRows(device: device).filter(\.isOurs).count + (try neighborRowsByTool())
        guard found == expected else {
            throw BenchError("check \(kind): expected \(expected) rows, found \(found)")
        }
    }

    /// Rows written by `ip` carry no protocol of ours; count them separately.
    private var countToolNeighbors = false
    private func neighborRowsByTool() throws -> Int {
        guard countToolNeighbors, let dev = try links.link(named: "vx0")?.ifindex else { return 0 }
        return try table.neighborRows(device: dev).filter { !$0.isOurs && !$0.ip.isMulticast }.count
    }

    func measure(_ kind: String, count: Int, contender: String,
                 _ body: (Int32) throws -> Int?) throws {
        var times: [Double] = []
        var sends: Int?
        for _ in 0..<options.runs {
            let device = try freshDevice()
            var usedSends: Int?
            let seconds = try timed { usedSends = try body(device) }
            sends = usedSends
            countToolNeighbors = contender.hasPrefix("ip")
            try expectRows(kind, count, device: device)
            countToolNeighbors = false
            times.append(seconds)
        }
        let result = Measurement(rows: kind, count: count, contender: contender, seconds: median(times), sends: sends)
        results.append(result)
        print(pad(kind, 6) + String(format: "%7d rows  ", count) + pad(contender, 30)
              + String(format: "%8.1f ms  %9.0f rows/s", result.seconds * 1000, result.rate)
              + (sends.map { "  (\($0) sends)" } ?? ""))
    }

    func run() throws {
        for count in options.sizes {
            let work = Workload(count: count)
            let fdb = work.fdbChanges()
            let neighbors = work.neighborChanges()
            let bridgeFile = try temporaryFile(work.bridgeBatch())
            let ipFile = try temporaryFile(work.ipBatch())
            defer {
                try? FileManager.default.removeItem(atPath: bridgeFile)
                try? FileManager.default.removeItem(atPath: ipFile)
            }

            try measure("FDB", count: count, contender: "bridge -batch") { _ in
                try sh("bridge", "-n", namespace, "-batch", bridgeFile)
                return nil
            }
            try measure("FDB", count: count, contender: "Netlink, 1 request per send") { device in
                try checked(singleTable.apply(fdb, device: device)).sends
            }
            try measure("FDB", count: count, contender: "Netlink, batched") { device in
                try checked(table.apply(fdb, device: device)).sends
            }
            try measure("neigh", count: count, contender: "ip -batch") { _ in
                try sh("ip", "-n", namespace, "-batch", ipFile)
                return nil
            }
            try measure("neigh", count: count, contender: "Netlink, 1 request per send") { device in
                try checked(singleTable.apply(neighbors, device: device)).sends
            }
            try measure("neigh", count: count, contender: "Netlink, batched") { device in
                try checked(table.apply(neighbors, device: device)).sends
            }
        }
        try measureDumps(count: options.sizes.max() ?? 100_000)
    }

    func measureDumps(count: Int) throws {
        let work = Workload(count: count)
        let device = try freshDevice()
        _ = try checked(table.apply(work.fdbChanges() + work.neighborChanges(), device: device))
        var fdbRows = 0
        var neighborRows = 0
        var before = CPUTime.now()
        let fdbTime = median(try (0..<options.runs).map { _ in
            try timed { fdbRows = try table.fdbRows(device: device).count }
        })
        dumpUserShare["FDB"] = CPUTime.now().userShare(since: before)
        before = CPUTime.now()
        let neighborTime = median(try (0..<options.runs).map { _ in
            try timed { neighborRows = try table.neighborRows(device: device).filter(\.isOurs).count }
        })
        dumpUserShare["neigh"] = CPUTime.now().userShare(since: before)
        let bridgeTime = median(try (0..<options.runs).map { _ in
            try timed { _ = try sh("bridge", "-n", namespace, "fdb", "show", "dev", "vx0") }
        })
        let ipTime = median(try (0..<options.runs).map { _ in
            try timed { _ = try sh("ip", "-n", namespace, "neigh", "show", "dev", "vx0") }
        })
        guard fdbRows == count, neighborRows == count else {
            throw BenchError("dump: expected \(count) rows, got \(fdbRows) FDB and \(neighborRows) neighbours")
        }
        dumps = [
            ("FDB dump + parse, Netlink", fdbRows, fdbTime),
            ("FDB `bridge fdb show` (text, reference)", count, bridgeTime),
            ("neighbour dump + parse, Netlink", neighborRows, neighborTime),
            ("neighbour `ip neigh show` (text, reference)", count, ipTime),
        ]
        for (kind, share) in dumpUserShare.sorted(by: { $0.key < $1.key }) {
            print(String(format: "dump   %@: %.0f%% of CPU time in user space (parsing), the rest in the kernel", kind, share * 100))
        }
        for dump in dumps {
            print("dump  " + String(format: "%7d rows  ", dump.count) + pad(dump.what, 44)
                  + String(format: "%8.1f ms", dump.seconds * 1000))
        }
    }

    func checked(_ report: BatchReport) throws -> BatchReport {
        guard report.allApplied else {
            throw BenchError("apply: " + report.failures.prefix(3).map(\.description).joined(separator: "; "))
        }
        return report
    }

    func temporaryFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "netlink-bench-\(getpid())-\(UUID().uuidString).batch"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// Process CPU time, to split a dump's cost between the kernel and our parser.
struct CPUTime {
    var user: Double
    var system: Double

    static func now() -> CPUTime {
        var usage = rusage()
        _ = getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return CPUTime(user: seconds(usage.ru_utime), system: seconds(usage.ru_stime))
    }

    func userShare(since start: CPUTime) -> Double {
        let user = self.user - start.user
        let total = user + (system - start.system)
        return total > 0 ? user / total : 0
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

func main() -> Int32 {
    let options: Options
    do {
        options = try Options(CommandLine.arguments)
    } catch {
        print("netlink-bench: \(error)")
        return 2
    }
    guard geteuid() == 0 else {
        print("netlink-bench needs root (it creates a network namespace)")
        return 1
    }
    let namespace = "gvnl-bench-\(getpid())"
    do {
        try sh("ip", "netns", "add", namespace)
    } catch {
        print("netlink-bench: \(error)")
        return 1
    }
    defer { _ = try? sh("ip", "netns", "del", namespace) }
    do {
        let bench = try Bench(namespace: namespace, options: options)
        try bench.run()
        let report = Report(results: bench.results, dumps: bench.dumps, dumpUserShare: bench.dumpUserShare,
                            runs: options.runs)
        print(report.ratios())
        if options.write {
            try report.markdown().write(toFile: options.markdown, atomically: true, encoding: .utf8)
            try report.svg().write(toFile: options.svg, atomically: true, encoding: .utf8)
            print("wrote \(options.markdown) and \(options.svg)")
        }
        return 0
    } catch {
        print("netlink-bench: \(error)")
        return 1
    }
}

exit(main())
