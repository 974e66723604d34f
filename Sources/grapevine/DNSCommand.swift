import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GrapevineAPI
import LocalHTTP

/// `grapevine dns [NETWORK]`: what each name of the overlay's DNS resolves to, and from which host.
struct DNSCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "dns", abstract: "The names the overlay's DNS answers: each name's addresses and host.",
        discussion: "A container name held by several containers lists each; only the one marked answered is given out.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "Only this network.") var network: String?

    func call(_ api: APIClient) async throws {
        let answer = try await api.send(.get, "/v1/names")
        let names = try decodeAnswer([NameView].self, answer, from: api).filter { network == nil || $0.network == network }
        guard options.format == .table else {
            guard network != nil else { return printJSON(answer) }
            // The filtered list, in the API's JSON shape.
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return print(String(decoding: try encoder.encode(names), as: UTF8.self))
        }
        Table(header: ["NETWORK", "NAME", "KIND", "ADDRESSES", "HOST", "ANSWERED"],
              rows: names.map { [$0.network, $0.name, $0.kind, $0.addresses.joined(separator: ","), $0.host, $0.answered ? "yes" : "no"] })
            .print()
    }
}
