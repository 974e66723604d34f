import Gossip
import Logging

/// Two nodes on loopback: one starts, the other joins it by host name, both see each other,
/// then both leave. Runs in about a second and exits.
@main
struct QuickStart {
    static func main() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "quickstart")

        // One key for the whole cluster. Make it once, with SecretKey.random(), and hand its
        // `base64` to every member (here both members live in this process).
        let keyring = Keyring(primary: SecretKey.random())
        guard let label = ClusterLabel("quickstart"), let loopback = Address(parsing: "127.0.0.1:0") else {
            fatalError("a literal that does not parse is a bug in this program")
        }

        func configuration(_ name: String) -> GossipConfiguration {
            var config = GossipConfiguration(name: name, bindAddress: loopback, logger: logger)
            config.keyring = keyring
            config.label = label
            config.tags = ["role": name]
            return config
        }

        let first = try GossipNode(configuration: configuration("first"))
        let second = try GossipNode(configuration: configuration("second"))
        let started = try await first.start()  // port 0: the system picks one
        try await second.start()

        // Seeds are addresses or host names, `host[:port]`; 7946 is the default port.
        let contacted = try await second.join(["localhost:\(started.address.port)"])
        logger.info("joined", metadata: ["contacted": "\(contacted)"])

        // The sequence starts with every live member as `joined`, then follows changes.
        for await update in await first.events() {
            switch update {
            case .event(let event):
                logger.info("\(event.kind) \(event.member.name) at \(event.member.address)")
            case .lost(let members):
                // Only a subscriber that falls far behind sees this: start over from `members`.
                logger.warning("events lost; \(members.count) members now")
            }
            if first.members.filter({ $0.status == .alive }).count == 2 { break }
        }

        await second.leave()  // the cluster sees "left", not "failed"
        await first.leave()
        let statistics = await first.statistics()  // every counter by its name
        logger.info("done", metadata: ["statistics": "\(statistics)"])
    }
}
