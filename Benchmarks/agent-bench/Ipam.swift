import GrapevineTestSupport
import ArgumentParser
import Foundation

struct IpamLatencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipam",
        abstract: "RequestAddress latency of the grapevine IPAM plugin (local, and with a donation) at each cluster size, against dockerd's built-in IPAM on the same dockerd.")

    @Option(help: "Cluster sizes, each measured in a cluster of its own (2–32); repeat the option for several.")
    var hosts: [Int] = []
    @Option(help: "Requests timed for the local and the `--ip` cases, and connects per IPAM driver (10–1000).") var requests = 200
    @Option(help: "Automatic donations timed per size at least (whole networks of N - 1 each; 2–200).") var donations = 40
    @OptionGroup var common: CommonOptions

    var sizes: [Int] { hosts.isEmpty ? [3, 16] : hosts }

    func validate() throws {
        guard sizes.allSatisfy({ (2...32).contains($0) }) else { throw ValidationError("--hosts must be 2–32") }
        guard (10...1_000).contains(requests) else { throw ValidationError("--requests must be 10–1000") }
        guard (2...200).contains(donations) else { throw ValidationError("--donations must be 2–200") }
    }

    func run() throws {
        guard geteuid() == 0 else { throw ValidationError("agent-bench needs root (it makes network namespaces and runs dockerd)") }
        for tool in ["dockerd", "docker", "runc", "tar"] where (try? sh("sh", "-c", "command -v \(tool)")) == nil {
            throw ValidationError("\(tool) is missing; scripts/setup.sh installs docker.io and busybox-static")
        }
        var results: [IpamBench.Results] = []
        for size in sizes {
            let lab = try DockerLab(executable: common.executable)
            defer { lab.tearDown() }
            var bench = IpamBench(lab: lab, hosts: size, requests: requests, donations: donations)
            let r = try bench.measure()
            print(r.summary())
            results.append(r)
        }
        try common.write(Report(title: "Docker IPAM: RequestAddress latency",
                                command: "ipam " + sizes.map { "--hosts \($0)" }.joined(separator: " ") + " --requests \(requests) --donations \(donations)",
                                body: IpamBench.markdown(results)),
                         as: "IPAM-LATENCY.md")
    }
}

/// `agent-bench ipam` (issue 21, "Must measure"): `/IpamDriver.RequestAddress` called directly
/// on each agent's plugin socket and timed in this process, when the host owns free space and
/// when it needs a donation from another host; and, as the same-run baseline, `POST
/// /networks/NAME/connect` on host 1's dockerd for a network with dockerd's built-in IPAM and
/// one with grapevine's (the same network driver, grapevine, for both), since dockerd's own
/// IPAM has no socket to call. Only host 1 runs a dockerd: the other agents serve the plugin
/// and their allocators without one (they adopt each pool from the allocator rows).
struct IpamBench {
    /// Networks whose first request on each host is a donation: 10.(90 + i).0.0/16, VNI 900 + i.
    static func subnet(_ i: Int) -> String { "10.\(90 + i).0.0/16" }
    static let builtin = (name: "gvib-builtin", subnet: "10.81.0.0/24", vni: 811)
    static let local = (name: "gvib-local", subnet: "10.81.1.0/24", vni: 812)
    static let home = (name: "gvib-home", subnet: "10.81.2.0/24", vni: 813)
    static let resident = "gvib-c"

    struct Results {
        var hosts: Int
        var networks = 0
        var conditions = ""
        var versions = ""
        /// Seconds per call.
        var local: [Double] = []
        var donation: [Double] = []
        var donationOne: [Double] = []
        var connectBuiltin: [Double] = []
        var connectGrapevine: [Double] = []
    }

    let lab: DockerLab
    let hosts: Int
    let requests: Int
    let donations: Int

    func plugin(_ host: Int) -> String { lab.path("plugin-h\(host).sock") }

    mutating func measure() throws -> Results {
        var results = Results(hosts: hosts)
        let load = { (ProcFile.read("/proc/loadavg").map { String(decoding: $0, as: UTF8.self) } ?? "?").split(separator: " ").prefix(3).joined(separator: " ") }
        results.conditions = "load average \(load()) at the start"
        let networks = min(25, (donations + hosts - 2) / (hosts - 1))
        results.networks = networks
        print("ipam: \(hosts) host namespaces with an agent each, a dockerd on h1; \(networks) network(s) for donations")
        try lab.buildUnderlay(hosts: hosts)
        try lab.holdPluginSpec()
        for host in 1...hosts {
            try lab.startAgent(host, pluginSocket: plugin(host))
            if host == 1 { try lab.startDocker(1) }
        }
        results.versions = lab.versions()
        for i in 0..<networks {
            try lab.docker(1, ["network", "create", "-d", "grapevine", "--ipam-driver", "grapevine", "--subnet", Self.subnet(i),
                               "-o", "vni=\(900 + i)", "gvib-\(i)"])
        }
        try lab.docker(1, ["network", "create", "-d", "grapevine", "--subnet", Self.builtin.subnet, "-o", "vni=\(Self.builtin.vni)", Self.builtin.name])
        for n in [Self.local, Self.home] {
            try lab.docker(1, ["network", "create", "-d", "grapevine", "--ipam-driver", "grapevine", "--subnet", n.subnet, "-o", "vni=\(n.vni)", n.name])
        }
        for host in 2...hosts {
            for i in 0..<networks {
                try waitUntil("h\(host) has the pool of \(Self.subnet(i)) and a live owner", timeout: 60, interval: 0.05) {
                    try adopted(host, Self.subnet(i))
                }
            }
        }

        // A donation: each host's first request of each network (it owns nothing of it yet).
        for i in 0..<networks {
            for host in 2...hosts {
                let (seconds, address) = try request(host, pool: Self.subnet(i))
                results.donation.append(seconds)
                try release(host, pool: Self.subnet(i), address)
            }
        }
        // A donation of one address: `--ip` of an address host 1 owns and has not leased, from
        // another host (host 1 keeps at least the lowest 2^16 / 2^(donations it made) offsets).
        for k in 0..<requests {
            let host = k % (hosts - 1) + 2
            let offset = 10 + k
            let wanted = "10.90.\(offset / 256).\(offset % 256)"
            let (seconds, address) = try request(host, pool: Self.subnet(0), address: wanted)
            guard address == wanted else { throw BenchError("asked h\(host) for \(wanted), got \(address)") }
            results.donationOne.append(seconds)
            try release(host, pool: Self.subnet(0), address)
        }
        // Local: every host owns free space of network 0 by now.
        for k in 0..<requests {
            let host = k % hosts + 1
            let (seconds, address) = try request(host, pool: Self.subnet(0))
            results.local.append(seconds)
            try release(host, pool: Self.subnet(0), address)
        }

        // The baseline: dockerd's connect of a running container, built-in IPAM against
        // grapevine's, alternating which goes first.
        try lab.docker(1, ["run", "-d", "--network", Self.home.name, "--name", Self.resident, DockerLab.image, "sleep", "100000"])
        let docker = lab.dockerSocket(1)
        for k in 0..<requests {
            let order = k % 2 == 0 ? [Self.builtin.name, Self.local.name] : [Self.local.name, Self.builtin.name]
            for name in order {
                let start = now()
                let (status, body) = try unixPost(docker, "/v1.41/networks/\(name)/connect", json: #"{"Container":"\#(Self.resident)"}"#)
                let seconds = now() - start
                guard status == 200 else { throw BenchError("connect to \(name): \(status) \(body)") }
                if name == Self.builtin.name { results.connectBuiltin.append(seconds) } else { results.connectGrapevine.append(seconds) }
                let (s2, b2) = try unixPost(docker, "/v1.41/networks/\(name)/disconnect", json: #"{"Container":"\#(Self.resident)"}"#)
                guard s2 == 200 else { throw BenchError("disconnect from \(name): \(s2) \(b2)") }
            }
        }
        results.conditions += ", \(load()) at the end"
        return results
    }

    /// One timed `RequestAddress` on `host`'s plugin socket; the seconds and the address given.
    func request(_ host: Int, pool: String, address: String = "") throws -> (Double, String) {
        let body = #"{"PoolID":"\#(pool)","Address":"\#(address)","Options":{}}"#
        let start = now()
        let (status, answer) = try unixPost(plugin(host), "/IpamDriver.RequestAddress", json: body)
        let seconds = now() - start
        guard status == 200, let data = answer.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let given = object["Address"] as? String else {
            throw BenchError("RequestAddress on h\(host) for \(pool) \(address): \(status) \(answer)")
        }
        return (seconds, String(given.prefix { $0 != "/" }))
    }

    func release(_ host: Int, pool: String, _ address: String) throws {
        let (status, answer) = try unixPost(plugin(host), "/IpamDriver.ReleaseAddress", json: #"{"PoolID":"\#(pool)","Address":"\#(address)"}"#)
        guard status == 200 else { throw BenchError("ReleaseAddress on h\(host): \(status) \(answer)") }
    }

    /// `host`'s allocator has the pool of `subnet` and sees another live host owning part of it.
    func adopted(_ host: Int, _ subnet: String) throws -> Bool {
        guard let text = try? run([lab.executable, "ipam", "--format", "json", "--socket", lab.agentSocket(host)], timeout: 10),
              let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let networks = object["networks"] as? [[String: Any]],
              let network = networks.first(where: { $0["subnet"] as? String == subnet }),
              let me = network["identity"] as? String, let rows = network["hosts"] as? [[String: Any]] else { return false }
        return rows.contains { ($0["identity"] as? String) != me && $0["alive"] as? Bool == true && !(($0["ranges"] as? [String]) ?? []).isEmpty }
    }
}

extension IpamBench.Results {
    func summary() -> String {
        var lines = ["ipam, \(hosts) hosts:"]
        for (what, values) in rows {
            guard let s = Summary(values) else { continue }
            lines.append("  \(what): n=\(s.count) p50 \(ms(s.median)) ms, p99 \(ms(s.p99)) ms")
        }
        return lines.joined(separator: "\n")
    }

    var rows: [(String, [Double])] {
        [("RequestAddress, the host owns free space", local),
         ("RequestAddress, a donation (the host's first address of a network)", donation),
         ("RequestAddress `--ip` of an address another host owns (a donation of one address)", donationOne),
         ("dockerd `connect`, built-in IPAM (baseline)", connectBuiltin),
         ("dockerd `connect`, grapevine IPAM (local)", connectGrapevine)]
    }
}

extension IpamBench {
    static func markdown(_ results: [Results]) -> String {
        var text = """
        What is timed: `POST /IpamDriver.RequestAddress` on an agent's plugin socket (a Unix socket
        the agent serves beside dockerd's TCP one), connect to answer, in the benchmark's own process
        (no CLI start-up), one call at a time; each address is released (untimed) before the next
        call. The agents run in host namespaces on one switch, encrypted gossip, one dockerd on host
        1 only: it creates the networks (`docker network create -d grapevine --ipam-driver grapevine
        --subnet 10.9x.0.0/16`, so host 1 owns each whole pool), and the other agents serve the
        plugin and their allocators without a dockerd (each adopts a pool from the allocator rows).

        - **local**: the host owns free space, so the address comes from its own range: one atomic
          write of `ipam.json` (two `fsync`s) and one gossip write, no round trip. Rotates over every
          host once each owns part of the pool.
        - **donation**: each host's first request on each network; it owns nothing, so it asks the
          owner with the most free addresses, which writes the donation in its own row; the asker
          takes it and leases. Hosts 2…N in turn, network after network.
        - **donation of one address**: `--ip` of an address host 1 owns and has not leased, asked on
          the other hosts in turn: the same exchange for a single address.
        - **baseline**: the old claim protocol no longer exists, so the baseline is what a user
          would get without grapevine's IPAM: `POST /networks/NAME/connect` of a running container
          on host 1's dockerd, timed the same way, for a network with Docker's built-in IPAM and for
          one with grapevine's (both with the grapevine network driver, so the difference is the
          IPAM's part), alternating which goes first; each followed by an untimed disconnect.

        **The bound for a donation (one gossip round trip).** A written row is pushed at once (eager
        push, not on the 200 ms gossip tick) to the writer's ring successor and to random live
        members, and each pushes it on once; so one gossip round trip here is two chains of
        datagrams, requester → owner and owner → requester, each one hop when the other end is among
        the pushed-to members (always with 3 hosts; one or two hops at 16), each hop well under a
        millisecond between namespaces plus the receiver's decryption and merge. Each end also
        persists before it publishes: the request row, then the owner's donation row, then the
        requester's taking and lease (three atomic `ipam.json` writes where the local path has one).
        So a donation costs at least the local path plus two persisted writes plus two datagram hops,
        and nothing grows with the cluster but the hop count (about log N). The measured ratio to the
        local figure is printed per size below: where it is well under 3x, the writes are not most of
        the local path (the HTTP call, the JSON, the owner's queue and, on a shared machine, waiting
        for a core are the rest).

        """
        for r in results {
            text += """

            ## \(r.hosts) hosts

            \(r.networks) network(s) for the donation case; \(r.conditions); \(r.versions).

            | case | samples | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |
            | --- | ---: | ---: | ---: | ---: | ---: |

            """
            for (what, values) in r.rows {
                guard let s = Summary(values) else { continue }
                text += "| \(what) | \(s.count) | \(ms(s.median)) | \(ms(s.p90)) | \(ms(s.p99)) | \(ms(s.max)) |\n"
            }
            if let l = Summary(r.local), let d = Summary(r.donation) {
                text += "\nA donation's p50 is \(ratio(d.median, l.median)) the local p50, \(ms(d.median - l.median)) ms more: the round trip and two writes.\n"
            }
            if let b = Summary(r.connectBuiltin), let g = Summary(r.connectGrapevine) {
                text += "dockerd's connect with grapevine's IPAM, p50: \(ratio(g.median, b.median)) the built-in IPAM's (\(ms(g.median - b.median)) ms more).\n"
            }
        }
        text += "\nWith fewer than 100 samples, p99 is the largest.\n"
        return text
    }
}
