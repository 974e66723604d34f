import Gossip
import Logging

/// Two nodes on loopback: one fires a user event, the other delivers it; one asks a query with
/// a tag filter, the other answers, and the asker's sequence ends as soon as it has. Exits.
@main
struct Events {
    static func main() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "events")
        guard let loopback = Address(parsing: "127.0.0.1:0") else { fatalError("a literal that does not parse") }
        let keyring = Keyring(primary: SecretKey.random())

        func node(_ name: String, role: String) throws -> GossipNode {
            var config = GossipConfiguration(name: name, bindAddress: loopback, logger: logger)
            config.keyring = keyring
            config.tags = ["role": role]
            return try GossipNode(configuration: config)
        }
        let web = try node("web-1", role: "web")
        let db = try node("db-1", role: "db")
        let started = try await web.start()
        try await db.start()
        try await db.join([started.address])

        // Subscribe first: a subscriber sees the events delivered from then on.
        let delivered = await db.userEvents()
        let time = try await web.fireEvent("deploy", payload: Array("v42".utf8))
        for await case .event(let e) in delivered {
            logger.info("db-1 got \(e.name) from \(e.origin) at Lamport time \(e.time) (fired at \(time))")
            break
        }

        // web-1 answers queries; db-1 asks the members whose role matches `web.*` (anchored).
        let questions = await web.incomingQueries()
        let answering = Task {
            for await case .query(let q) in questions {
                try? await web.respond(to: q.responder, payload: Array("load 0.3".utf8))
            }
        }
        let answers = try await db.query(
            QueryRequest(name: "load", filters: [.tag(key: "role", pattern: try FilterPattern("web.*"))]))
        for await update in answers {
            switch update {
            case .ack(let from): logger.info("ack from \(from)")
            case .response(let from, let payload): logger.info("\(from): \(String(decoding: payload, as: UTF8.self))")
            case .finished(let end): logger.info("query over: \(end)")  // all-responded, well before the timeout
            }
        }

        await db.leave()
        await web.leave()
        answering.cancel()
    }
}
