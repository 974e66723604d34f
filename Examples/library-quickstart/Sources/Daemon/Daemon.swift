import Gossip
import Logging
import ServiceLifecycle

/// A daemon: runs until SIGTERM or SIGINT, then leaves the cluster gracefully.
/// `daemon NAME BIND-ADDRESS KEY-BASE64 [SEED...]`, seeds as `host[:port]`.
@main
struct Daemon {
    static func main() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "daemon")
        let arguments = CommandLine.arguments.dropFirst()
        guard arguments.count >= 3, let bind = Address(parsing: arguments[arguments.startIndex + 1], defaultPort: 7946)
        else {
            logger.error("usage: daemon NAME BIND-ADDRESS KEY-BASE64 [SEED...]")
            return
        }
        let name = arguments[arguments.startIndex]
        let seeds = Array(arguments.dropFirst(3))

        var config = GossipConfiguration(name: name, bindAddress: bind, logger: logger)
        // The same key on every member; `SecretKey.random().base64` makes one.
        config.keyring = Keyring(primary: try SecretKey(base64: arguments[arguments.startIndex + 2]))
        // Without a label, clusters sharing a network and a key would merge: keep one.
        guard let label = ClusterLabel("prod") else { fatalError("a label longer than 255 bytes") }
        config.label = label
        config.tags = ["role": "web"]
        config.snapshotPath = "/var/lib/daemon/\(name).snapshot"

        let node = try GossipNode(configuration: config)
        let started = try await node.start()  // binds UDP and TCP, rejoins the snapshot's members
        if started.rejoining == 0 && !seeds.isEmpty {  // a first start: nobody known yet
            try await node.join(seeds)
        }

        let watcher = Task {
            for await update in node.events() {
                if case .event(let event) = update {
                    logger.info("\(event.kind) \(event.member.name) at \(event.member.address)")
                }
            }
        }
        // SIGTERM or SIGINT: the node leaves gracefully. The group ends when the node stops.
        let group = ServiceGroup(services: [node], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
        await watcher.value
    }
}
