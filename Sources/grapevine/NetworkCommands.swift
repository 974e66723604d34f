import ArgumentParser
import GrapevineAPI
import LocalHTTP

struct NetworkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network", abstract: "The configured networks.", subcommands: [List.self])

    struct List: ClientCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the configured networks and their counts.")

        @OptionGroup var options: ClientOptions

        func call(_ api: APIClient) async throws {
            let answer = try await api.send(.get, "/v1/networks")
            guard options.format == .table else { return printJSON(answer) }
            let networks = try decodeAnswer([NetworkView].self, answer, from: api)
            Table(header: ["NAME", "VNI", "DEVICE", "BRIDGE", "MTU", "HOSTS", "LOCAL", "REMOTE", "ROWS", "CONFLICTS"],
                  rows: networks.map {
                      [$0.name, "\($0.vni)", $0.device, $0.bridge, "\($0.mtu)", "\($0.hosts.count)", "\($0.localEndpoints)",
                       "\($0.remoteEndpoints)", "\($0.desiredRows)", "\($0.conflicts.count)"]
                  }).print()
            for network in networks {
                for conflict in network.conflicts { print("conflict in \(network.name): \(conflict)") }
            }
        }
    }
}

struct FDBCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "fdb", abstract: "A network's desired kernel rows against the kernel's; differences marked with *.",
        discussion: "With --check, exits 3 when a row is missing, wrong or extra.")

    /// Exit code of `--check` when the kernel differs from the desired rows.
    static let outOfSync: Int32 = 3

    @OptionGroup var options: ClientOptions
    @Flag(help: "Exit 3 when the kernel is not in sync.") var check = false
    @Argument(help: "The network's name.") var network: String

    func call(_ api: APIClient) async throws {
        let answer = try await api.send(.get, "/v1/networks/\(percentEncoded(network))/fdb")
        let view = try decodeAnswer(FDBView.self, answer, from: api)
        if options.format == .json {
            printJSON(answer)
        } else {
            print("\(view.network) (vni \(view.vni), \(view.device)): \(view.inSync ? "in sync" : "NOT in sync")")
            Table(header: ["", "KIND", "KEY", "DESIRED", "ACTUAL", "ORIGIN", "STATUS"],
                  rows: view.lines.map {
                      [$0.status == "ok" || $0.status == "foreign" ? " " : "*", $0.kind, $0.key, $0.desired ?? "-",
                       $0.actual ?? "-", $0.origin ?? "-", $0.status]
                  }).print()
        }
        if check, !view.inSync { throw ExitCode(Self.outOfSync) }
    }
}
