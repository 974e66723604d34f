import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Metrics
import OverlayAgent
import UnixSignals
#if canImport(Glibc)
import Glibc
#endif

/// `grapevine agent`: runs the daemon. Options come from `--config FILE` (TOML), then
/// `GRAPEVINE_*` environment variables, then flags; `AgentOption.all` lists them, and the
/// help text is made from that list so the three never disagree.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the Grapevine agent: gossip membership and program this host's VXLAN devices.",
        discussion: """
            Options (each also a config-file key and an environment variable; flags win over \
            the environment, which wins over the file; Docs/CONFIG.md has them all):

            \(AgentOption.all.map { "  \($0.flag)\($0.isSwitch ? "" : " VALUE")\n      \($0.help)\n      config: \($0.key)   env: \($0.environmentVariable)" }.joined(separator: "\n"))

            SIGTERM and SIGINT stop the agent without leaving the cluster, so that a restart \
            interrupts no traffic; `grapevine leave` leaves.
            """)

    @Option(name: .customLong("config"), help: "TOML configuration file.")
    var configFile: String?

    @Argument(parsing: .captureForPassthrough, help: .hidden)
    var options: [String] = []

    func run() async throws {
        // The pass-through capture takes `--help` too.
        if options.contains(where: { $0 == "--help" || $0 == "-h" }) { throw CleanExit.helpRequest(self) }
        let flags: [String: [String]]
        do { flags = try Self.parse(options) } catch { throw ValidationError(error.description) }
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let configuration: AgentConfiguration
        do {
            configuration = try AgentConfiguration.load(
                file: configFile ?? ProcessInfo.processInfo.environment["GRAPEVINE_CONFIG"],
                environment: ProcessInfo.processInfo.environment, flags: flags,
                defaultName: String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        } catch {
            standardError("error: \(error)")
            throw ExitCode(78)  // EX_CONFIG
        }

        let hub = MonitorHub()
        var logger = Logger(label: "grapevine") { label in
            MonitorLogHandler(inner: StreamLogHandler.standardError(label: label), hub: hub)
        }
        logger.logLevel = configuration.logLevel
        let metrics = AgentMetrics()
        MetricsSystem.bootstrap(metrics.factory)

        let agent: Agent
        do {
            agent = try Agent(configuration: configuration, logger: logger, metrics: metrics, hub: hub)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(78)
        }
        let server = ControlServer(control: agent, socketPath: configuration.apiSocket, socketGroup: configuration.apiGroup,
                                   tcpAddress: configuration.apiAddress, logger: logger)
        // The agent's run and the wait for a signal are this command's children: whichever
        // ends first, the other is ended too (a signal asks the agent to stop; a run that ends
        // on its own cancels the wait).
        do {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                let trapped = AsyncStream<Void>.makeStream()
                group.addTask { [logger] in
                    let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
                    trapped.continuation.finish()
                    for await signal in signals {
                        logger.info("stopping without leaving", metadata: ["signal": "\(signal)"])
                        await agent.stop()
                        break
                    }
                    return false
                }
                // The signals are trapped before the agent starts, so that none kills it midway.
                for await _ in trapped.stream {}
                group.addTask {
                    try await agent.run(serving: server)
                    return true
                }
                while let runEnded = try await group.next() {
                    if runEnded { group.cancelAll() }
                }
            }
        } catch {
            logger.critical("agent failed", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }

    /// `--key VALUE`, `--key=VALUE` and bare switches, for the options of `AgentOption.all`.
    static func parse(_ arguments: [String]) throws(ConfigurationError) -> [String: [String]] {
        let byFlag = Dictionary(uniqueKeysWithValues: AgentOption.all.map { ($0.flag, $0) })
        var out: [String: [String]] = [:]
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            let (flag, inline): (String, String?) = {
                guard let eq = argument.firstIndex(of: "=") else { return (argument, nil) }
                return (String(argument[..<eq]), String(argument[argument.index(after: eq)...]))
            }()
            guard let option = byFlag[flag] else {
                throw ConfigurationError("", "unknown option '\(argument)' (see grapevine agent --help)")
            }
            if option.isSwitch {
                out[option.key, default: []].append(inline ?? "true")
            } else if let inline {
                out[option.key, default: []].append(inline)
            } else {
                guard i + 1 < arguments.count else { throw ConfigurationError(option.key, "\(flag) needs a value") }
                i += 1
                out[option.key, default: []].append(arguments[i])
            }
            i += 1
        }
        return out
    }
}
