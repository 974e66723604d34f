import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GrapevineAPI
#if canImport(Glibc)
import Glibc
#endif

struct InfoCommand: ClientCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "The agent's identity and figures.")

    @OptionGroup var options: ClientOptions

    func call(_ api: APIClient) async throws {
        let answer = try await api.send(.get, "/v1/info")
        guard options.format == .table else { return printJSON(answer) }
        let info = try decodeAnswer(InfoView.self, answer, from: api)
        var underlay: [[String]] = []
        if let u = info.underlay {
            let device = u.device.map { "\($0) mtu \(u.deviceMTU.map { "\($0)" } ?? "?")" } ?? "none holds the vtep address"
            underlay.append(["underlay", device + (u.configuredMTU.map { ", underlay_mtu \($0)" } ?? "")])
            underlay.append(["overlay mtu", "\(u.overlayMTU)"])
            underlay.append(["underlay address losses", "\(u.addressLosses)"])
            for problem in u.problems { underlay.append(["PROBLEM", problem]) }
        }
        Table(header: ["FIELD", "VALUE"], rows: [
            ["name", info.name], ["address", info.address], ["vtep", info.vtep], ["version", info.version],
            ["encrypted", "\(info.encrypted)"], ["members", tagList(info.members.mapValues { "\($0)" })],
            ["networks", "\(info.networks)"], ["local endpoints", "\(info.localEndpoints)"],
            ["replicated rows", "\(info.replicatedRows)"], ["reconciles", "\(info.reconciles)"],
            ["rows written", "\(info.rowsWritten)"], ["drift repairs", "\(info.driftRepairs)"],
            ["netlink errors", "\(info.netlinkErrors)"], ["uptime", "\(Int(info.uptimeSeconds)) s"],
        ] + underlay).print()
    }
}

struct MonitorCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor", abstract: "Stream membership changes, row changes and log lines until interrupted.")

    @OptionGroup var options: ClientOptions

    func call(_ api: APIClient) async throws {
        let format = options.format
        try await api.stream(.get, "/v1/monitor") { line in
            guard format == .table else { return printJSON(line) }
            print(describe(try decodeAnswer(MonitorRecord.self, line, from: api)))
            fflush(nil)
        }
    }

    private func describe(_ record: MonitorRecord) -> String {
        let time = Date(timeIntervalSince1970: record.time).formatted(.iso8601)
        switch record.type {
        case "member": return "\(time) member \(record.event ?? "?") \(record.name ?? "?") \(record.address ?? "")"
        case "row": return "\(time) row \(record.event ?? "?") \(record.table ?? "?") \(record.key ?? "?") owner \(record.name ?? "?")"
        case "user": return "\(time) user event \(record.event ?? "?") from \(record.name ?? "?"): \(record.message ?? "")"
        case "query": return "\(time) query \(record.event ?? "?") from \(record.name ?? "?")"
        case "log": return "\(time) log [\(record.level ?? "?")] \(record.message ?? "")"
        case "lost": return "\(time) lost \(record.count ?? 0) record(s): this reader fell behind"
        default: return "\(time) \(record.type)"
        }
    }
}
