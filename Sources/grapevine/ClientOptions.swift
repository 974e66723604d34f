import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// Where the agent's control API is and how to print its answers; on every client command.
struct ClientOptions: ParsableArguments {
    static let defaultSocket = "/run/grapevine/grapevine.sock"

    @Option(help: "The agent's control socket (env GRAPEVINE_SOCKET; default \(ClientOptions.defaultSocket)).")
    var socket: String?

    @Option(help: ArgumentHelp("The agent's control API over TCP instead of the socket (env GRAPEVINE_ADDRESS).", valueName: "host:port"))
    var address: String?

    @Option(help: "table (aligned, for people) or json (the API's own JSON).")
    var format: OutputFormat = .table

    /// The flag, else the environment, else the default socket; `--socket` wins over an
    /// address from the environment.
    var target: APIClient.Target {
        let environment = ProcessInfo.processInfo.environment
        if let address { return .tcp(address) }
        if let socket { return .unix(socket) }
        if let address = environment["GRAPEVINE_ADDRESS"], !address.isEmpty { return .tcp(address) }
        return .unix(environment["GRAPEVINE_SOCKET"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultSocket)
    }

    func validate() throws {
        if socket != nil, address != nil { throw ValidationError("give --socket or --address, not both") }
    }
}

/// A command that talks to the agent: `call` does the work; refusals and connection failures
/// become exit codes 1 and 2 with `error: …` on standard error.
protocol ClientCommand: AsyncParsableCommand {
    var options: ClientOptions { get }
    func call(_ api: APIClient) async throws
}

extension ClientCommand {
    func run() async throws {
        let api = APIClient(target: options.target)
        do {
            try await call(api)
        } catch let failure as ClientFailure {
            standardError(failure.description)
            throw ExitCode(failure.exitCode)
        }
    }
}

func standardError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
