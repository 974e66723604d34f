import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GrapevineAPI
import LocalHTTP

/// `grapevine ipam [NETWORK]` and `grapevine ipam reclaim HOST`: the Docker networks' address
/// allocators as this host sees them.
struct IpamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipam", abstract: "Docker networks' address allocators: each host's ranges, leases, free addresses.",
        subcommands: [Show.self, Reclaim.self], defaultSubcommand: Show.self)

    struct Show: ClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "Per network and host: ranges owned, addresses leased and free, open requests.",
            discussion: "A host is named host~incarnation; an incarnation not alive keeps its ranges until reclaimed.")

        @OptionGroup var options: ClientOptions
        @Argument(help: "Only this network (its name or VNI).") var network: String?

        func call(_ api: APIClient) async throws {
            let answer = try await api.send(.get, "/v1/ipam")
            var status = try decodeAnswer(IPAMStatus.self, answer, from: api)
            if let network { status.networks = status.networks.filter { $0.name == network || "\($0.vni)" == network } }
            guard options.format == .table else {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                return print(String(decoding: try encoder.encode(status), as: UTF8.self))
            }
            for n in status.networks {
                var pool = "\(n.name ?? "vni-\(n.vni)") (vni \(n.vni)): subnet \(n.subnet)"
                if let r = n.ipRange { pool += ", ip range \(r)" }
                if let g = n.gateway { pool += ", gateway \(g)" }
                if !n.auxAddresses.isEmpty { pool += ", aux \(n.auxAddresses.joined(separator: ","))" }
                print(pool + "; this host is \(n.identity), \(n.pending) request(s) waiting")
                Table(header: ["HOST", "ALIVE", "RANGES", "LEASED", "FREE", "REQUESTS", "DONATIONS", "SUCCESSOR"],
                      rows: n.hosts.map {
                          [$0.identity + ($0.left ? " (left)" : ""), $0.alive ? "yes" : "no", $0.ranges.isEmpty ? "-" : $0.ranges.joined(separator: ","),
                           "\($0.leased)", "\($0.free)", "\($0.requests)", "\($0.donations)", $0.successor ?? "-"]
                      }).print()
            }
        }
    }

    struct Reclaim: ClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "reclaim", abstract: "Take the address ranges of a host that is gone for good.",
            discussion: "Refused while the host may be alive (seen within ipam_quarantine seconds), and on any host but its reclaimer (named in the answer).")

        @OptionGroup var options: ClientOptions
        @Argument(help: "The host's name, or one incarnation of it (host~incarnation).") var host: String

        func call(_ api: APIClient) async throws {
            let answer = try await api.send(.post, "/v1/ipam/reclaim", body: IPAMReclaimRequest(host: host))
            guard options.format == .table else { return printJSON(answer) }
            let reply = try decodeAnswer(IPAMReclaimReply.self, answer, from: api)
            print("reclaimed: \(reply.reclaimed.joined(separator: ", "))")
        }
    }
}
