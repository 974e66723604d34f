import Foundation

extension NamesBench.Results {
    private func rounds(_ driver: NamesBench.Driver) -> [NamesBench.Round] { rounds.filter { $0.driver == driver } }

    /// The rows of the `docker run` table: what each measures, per round.
    private func rows(_ driver: NamesBench.Driver) -> [(String, [Double])] {
        let r = rounds(driver)
        return [
            ("`docker run -d` returned", r.map(\.runReturned)),
            ("answers by name from the same host (dockerd's own records)", r.map(\.sameHostByName)),
            ("answers by name from every other host", r.map(\.everyOtherByName)),
            ("answers by address from every other host", r.map(\.everyOtherByAddress)),
            ("by name from every other host, after `docker run` returned", r.map { $0.everyOtherByName - $0.runReturned }),
        ]
    }

    private static func cell(_ values: [Double], _ pick: (Summary) -> Double) -> String {
        Summary(values).map { ms(pick($0)) } ?? "–"
    }

    func summary() -> String {
        var lines: [String] = []
        let g = rows(.grapevine), s = rows(.swarm)
        for (a, b) in zip(g, s) {
            lines.append("\(a.0): grapevine median \(Self.cell(a.1, \.median)) ms, p99 \(Self.cell(a.1, \.p99)) ms; "
                         + "swarm median \(Self.cell(b.1, \.median)) ms, p99 \(Self.cell(b.1, \.p99)) ms")
        }
        for driver in NamesBench.Driver.allCases {
            lines.append("lookups \(driver.rawValue): another host's name median \(Self.cell(remoteLookups[driver] ?? [], \.median)) ms, "
                         + "p99 \(Self.cell(remoteLookups[driver] ?? [], \.p99)) ms; same host's median \(Self.cell(localLookups[driver] ?? [], \.median)) ms, "
                         + "p99 \(Self.cell(localLookups[driver] ?? [], \.p99)) ms")
        }
        return lines.joined(separator: "\n")
    }

    func markdown() -> String {
        let g = rows(.grapevine), s = rows(.swarm)
        var table = """
        | from the start of `docker run` until | grapevine median (ms) | p99 (ms) | Swarm median (ms) | p99 (ms) | grapevine / Swarm (medians) |
        | --- | ---: | ---: | ---: | ---: | ---: |

        """
        for (a, b) in zip(g, s) {
            let ratioText = Summary(a.1).flatMap { x in Summary(b.1).map { ratio(x.median, $0.median) } } ?? "–"
            table += "| \(a.0) | \(Self.cell(a.1, \.median)) | \(Self.cell(a.1, \.p99)) | \(Self.cell(b.1, \.median)) | \(Self.cell(b.1, \.p99)) | \(ratioText) |\n"
        }
        var lookupTable = """
        | lookup from a container, through dockerd's resolver | grapevine median (ms) | p99 (ms) | Swarm median (ms) | p99 (ms) |
        | --- | ---: | ---: | ---: | ---: |

        """
        for (label, values) in [("a name on another host", remoteLookups), ("a name on the asker's host (dockerd answers itself)", localLookups)] {
            let a = values[.grapevine] ?? [], b = values[.swarm] ?? []
            lookupTable += "| \(label) | \(Self.cell(a, \.median)) | \(Self.cell(a, \.p99)) | \(Self.cell(b, \.median)) | \(Self.cell(b, \.p99)) |\n"
        }
        func each(_ driver: NamesBench.Driver) -> String {
            rows(driver).dropLast().map { "\($0.0): " + $0.1.map(ms).joined(separator: ", ") }.joined(separator: "; ")
        }
        return """
        \(versions). Conditions: \(conditions). Absolute figures on this shared machine move between
        runs; both drivers are measured in the same run, on the same dockerds, alternating within each round.

        Setup, all made by the benchmark and removed at its end: \(hosts) host namespaces on one switch
        (10.79.0.i/24), in each a `grapevine agent --docker` serving the plugin and names on
        `\(NamesBench.dnsAddress)` (`--dns-address`, its upstream a stub resolver on 127.0.0.1:\(NamesBench.stubPort) that answers
        NXDOMAIN), and a `dockerd` of its own (Docs/DOCKER-TESTING.md's flags) whose daemon.json has
        `"dns": ["\(NamesBench.dnsAddress)"]`, the name service's one-time host setup (Docs/DOCKER.md). The same dockerds form a Swarm
        (host 1 the manager, `--data-path-port \(NamesBench.swarmDataPort)`) with an attachable overlay network, which is what a
        Docker user would run instead for names across hosts. Networks: `\(NamesBench.network)` (grapevine, VNI \(NamesBench.vni),
        \(NamesBench.subnet)) and `\(NamesBench.swarmNetwork)` (overlay, \(NamesBench.swarmSubnet)), one resident container per host on each.

        ## `docker run` until the container answers by name, \(hosts) hosts

        \(runs) rounds per driver, rotating the host: `docker run -d --network NET --name NAME IMAGE sleep`.
        The clock starts just before the `docker` CLI process is started. Once it returns, the residents
        ping the new container **by name** (`nsenter --net --mount` into the resident, so busybox resolves
        through its `/etc/resolv.conf`, dockerd's resolver at 127.0.0.11, every 10 ms until a reply; a
        name not resolvable yet makes ping exit, and it is started again). `docker inspect` gives the
        address, which the other hosts' residents then ping **by address**. For grapevine, a name on
        another host is one dockerd forwards to the agent; for Swarm, dockerd answers it from the records
        Swarm's own gossip brought.

        \(table)
        With \(runs) rounds, p99 is the largest value. The last row is the issue's goal: "within 50 ms of
        `docker run` itself".

        Every round (ms), grapevine: \(each(.grapevine)).

        Every round (ms), Swarm: \(each(.swarm)).

        ## Lookup latency

        From host 2's resident, \(lookups) A queries of each name, one after the other, from the
        container's network namespace to dockerd's resolver (127.0.0.11:53), each timed from `send`
        to its answer (a Python client, `perf_counter`); every answer must hold an address.

        \(lookupTable)
        """
    }
}
