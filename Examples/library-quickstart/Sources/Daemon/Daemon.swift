import Foundation  // exit(_:)
import Gossip
import Logging
import ServiceLifecycle

/// A daemon: runs until SIGTERM or SIGINT, then leaves the cluster gracefully.
/// `daemon NAME BIND-ADDRESS KEY-BASE64 STATE-DIRECTORY [SEED...]`, seeds as `host[:port]`.
/// A start-up error (a bad key, no seed answering, the port in use, a state directory it
/// cannot write) is logged with its reason and ends the process with status 1; bad usage, 2.
@main
struct Daemon {
    static func main() async {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "daemon")
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.count >= 4 else {
            logger.error("usage: daemon NAME BIND-ADDRESS KEY-BASE64 STATE-DIRECTORY [SEED...]")
            exit(2)
        }
        guard let bind = Address(parsing: arguments[1], defaultPort: 7946) else {
            logger.error("usage: BIND-ADDRESS must be IP[:PORT], got '\(arguments[1])'")
            exit(2)
        }
        do {
            try await run(
                name: arguments[0], bind: bind, key: arguments[2], stateDirectory: arguments[3],
                seeds: Array(arguments.dropFirst(4)), logger: logger)
        } catch {
            // Every error of `Gossip` says what happened, e.g. "cannot bind 127.0.0.1:7946: ...
            // Address already in use" or "join failed: 10.0.0.2:7946: connection refused".
            logger.error("\(error)")
            exit(1)
        }
    }

    static func run(
        name: String, bind: Address, key: String, stateDirectory: String, seeds: [String], logger: Logger
    ) async throws {
        var config = GossipConfiguration(name: name, bindAddress: bind, logger: logger)
        // The same key on every member; `SecretKey.random().base64` makes one.
        config.keyring = Keyring(primary: try SecretKey(base64: key))
        // Without a label, clusters sharing a network and a key would merge: keep one.
        guard let label = ClusterLabel("prod") else { fatalError("a label longer than 255 bytes") }
        config.label = label
        config.tags = ["role": "web"]
        // Whom it knew, and its keys after a rotation: a restart finds its cluster again.
        config.snapshotPath = "\(stateDirectory)/snapshot"
        config.keyringPath = "\(stateDirectory)/keyring"

        let node = try GossipNode(configuration: config)
        let started = try await node.start()  // checks both files, binds UDP and TCP, rejoins the snapshot's members
        logger.info("running", metadata: ["address": "\(started.address)"])
        if started.rejoining == 0 && !seeds.isEmpty {  // a first start: nobody known yet
            do { try await node.join(seeds) } catch {
                await node.stop()
                throw error
            }
        }

        let watcher = Task {
            for await update in await node.events() {
                if case .event(let event) = update {
                    logger.info("\(event.kind) \(event.member.name) at \(event.member.address)")
                }
            }
        }
        // SIGTERM or SIGINT: the node leaves gracefully. If the node leaves by itself (another
        // task called `leave()`), `.gracefullyShutdownGroup` shuts the other services down
        // gracefully too, and `run()` returns instead of throwing.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: node, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        await watcher.value
    }
}
