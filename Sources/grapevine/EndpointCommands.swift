import ArgumentParser
import GrapevineAPI
import LocalHTTP

struct EndpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoint", abstract: "Register, remove and list this host's endpoints.",
        subcommands: [Add.self, Remove.self, List.self])

    struct Add: ClientCommand {
        static let configuration = CommandConfiguration(commandName: "add", abstract: "Register a local endpoint and publish it.")

        @OptionGroup var options: ClientOptions
        @Option(help: "A configured network's name.") var network: String
        @Option(help: "The endpoint's MAC (aa:bb:cc:dd:ee:ff).") var mac: String
        @Option(help: "Its IPv4 address.") var ip: String?
        @Option(help: "Its IPv6 address.") var ip6: String?
        @Option(help: "A name for people (a container's).") var name: String?

        func call(_ api: APIClient) async throws {
            let answer = try await api.send(
                .post, "/v1/endpoints", body: EndpointRequest(network: network, mac: mac, ip: ip, ip6: ip6, name: name))
            guard options.format == .table else { return printJSON(answer) }
            endpointTable([try decodeAnswer(EndpointView.self, answer, from: api)]).print()
        }
    }

    struct Remove: ClientCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Withdraw a local endpoint everywhere.")

        @OptionGroup var options: ClientOptions
        @Option(help: "The endpoint's network.") var network: String
        @Option(help: "The endpoint's MAC.") var mac: String

        func call(_ api: APIClient) async throws {
            _ = try await api.send(.delete, "/v1/endpoints/\(percentEncoded(network))/\(percentEncoded(mac))")
            if options.format == .table { print("Removed \(mac) from \(network).") } else { print("{}") }
        }
    }

    struct List: ClientCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List this host's endpoints.")

        @OptionGroup var options: ClientOptions

        func call(_ api: APIClient) async throws {
            let answer = try await api.send(.get, "/v1/endpoints")
            guard options.format == .table else { return printJSON(answer) }
            endpointTable(try decodeAnswer([EndpointView].self, answer, from: api)).print()
        }
    }
}

private func endpointTable(_ endpoints: [EndpointView]) -> Table {
    Table(header: ["NETWORK", "VNI", "MAC", "IP", "IP6", "NAME", "CLAIM"],
          rows: endpoints.map { [$0.network, "\($0.vni)", $0.mac, $0.ip ?? "-", $0.ip6 ?? "-", $0.name ?? "-", "\($0.claim)"] })
}
