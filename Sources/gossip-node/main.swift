import ArgumentParser
import Gossip
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs one gossip node and prints each membership event as a line on stdout
/// (`joined NAME ADDRESS INCARNATION`...), for scripts and cross-process tests. Logs go to
/// stderr. SIGTERM or SIGINT leave the cluster gracefully.
struct GossipNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gossip-node", abstract: "Run one Grapevine gossip node and print membership events.",
        discussion: """
            Without --key, traffic is plaintext: anyone who can reach the port can join the cluster, \
            inject members, forge failures and read the membership. Use plaintext only on a network \
            you trust; everywhere else give every node the same --key.

            Each event is one line on stdout: KIND NAME ADDRESS INCARNATION. With --snapshot, each \
            completed write prints snapshot-written N (N members listed). Names come from the \
            network: control and format characters in them are printed escaped as \\u{XX}.

            User events print as user-event NAME LTIME ORIGIN PAYLOAD, queries that select this \
            node as query-received NAME LTIME ORIGIN PAYLOAD. Standard input takes commands, one \
            per line: event [--coalesce] NAME [PAYLOAD...]; query [--tag K=RE]... [--node N]... [--timeout-ms T] \
            [--relay K] [--no-ack] NAME [PAYLOAD...] (prints query-ack ID FROM, query-response ID \
            FROM PAYLOAD, then query-done ID all-responded|timeout missing=M acks=A responses=R); \
            tags K=V...; keys install|use|remove BASE64-KEY and keys list (on every member, as serf \
            keys: keys-report, keys-failed, keys-missing, keys-key lines, then keys-done OP \
            complete|incomplete). Each prints its result, or error MESSAGE.

            Replicated state: row set TABLE KEY VALUE... (prints row-written TABLE KEY VERSION), \
            row rm TABLE KEY (prints row-deleted TABLE KEY), rows [OWNER] (prints row OWNER TABLE \
            KEY VERSION VALUE lines, then rows-done N). Every change of the replica prints as \
            row-added|row-updated|row-removed OWNER TABLE KEY VERSION VALUE or \
            owner-unavailable|owner-available OWNER; a subscriber that fell behind prints \
            state-resync ROWS UNAVAILABLE followed by the whole replica as row lines and \
            owner-unavailable lines.
            """)

    @Option(help: "This node's name, unique in the cluster.")
    var name: String

    @Option(help: "UDP and TCP address to bind (port 0 picks a free port).")
    var bind: String = "127.0.0.1:7946"

    @Option(help: "Address other members reach this node at (default: the bound address).")
    var advertise: String?

    @Option(help: "A seed to join, host[:port] (repeatable; port 7946 by default; DNS names are resolved).")
    var join: [String] = []

    @Option(
        help:
            "Base64 encryption key (32 bytes). Without it, traffic is plaintext: anyone who can reach the port can join, inject members, forge failures and read the membership."
    )
    var key: String?

    @Option(help: "Cluster label: nodes with another label are refused.")
    var label: String = ""

    @Option(help: "Snapshot file: known members, for rejoining after a restart.")
    var snapshot: String?

    @Option(help: "Answer every query with this text (queries are printed as query-received lines).")
    var queryResponse: String?

    @Flag(help: "On join, deliver the user events the cluster fired before (Serf's join -replay).")
    var replay = false

    @Option(help: "Deliver coalescable user events of one name once per this many milliseconds, the newest (0: off).")
    var coalesceMs: Int64 = 0

    @Option(help: "A tag key=value (repeatable).")
    var tag: [String] = []

    @Option(help: "Probe interval in milliseconds.")
    var probeIntervalMs: Int = 1000

    @Option(help: "Probe timeout in milliseconds.")
    var probeTimeoutMs: Int = 500

    @Option(help: "Gossip interval in milliseconds.")
    var gossipIntervalMs: Int = 200

    @Option(help: "Push/pull interval in milliseconds.")
    var pushPullIntervalMs: Int = 30_000

    @Option(help: "First join retry wait in milliseconds (doubles per attempt).")
    var joinRetryMs: Int = 1000

    @Option(help: "How long a member declared failed still receives gossip, in milliseconds.")
    var gossipToTheDeadMs: Int = 30_000

    // A typo is an error that lists the levels, not a silent "info".
    @Option(
        help: "Log level: trace, debug, info, notice, warning, error, critical.",
        transform: { text throws(ValidationError) in
            guard let level = Logger.Level(rawValue: text) else {
                throw ValidationError("unknown log level '\(text)': \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return level
        })
    var logLevel: Logger.Level = .info

    func run() async throws {
        guard let bindAddress = Address(parsing: bind, defaultPort: 7946) else {
            throw ValidationError("cannot parse --bind \(bind)")
        }
        var logger = Logger(label: "gossip-node") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = logLevel
        var config = GossipConfiguration(name: name, bindAddress: bindAddress, logger: logger)
        if let advertise {
            guard let a = Address(parsing: advertise, defaultPort: bindAddress.port) else {
                throw ValidationError("cannot parse --advertise \(advertise)")
            }
            config.advertiseAddress = a
        }
        if let key {
            do { config.keyring = Keyring(primary: try SecretKey(base64: key)) } catch {
                throw ValidationError("bad --key: \(error)")
            }
        }
        guard let clusterLabel = ClusterLabel(label) else { throw ValidationError("--label is too long") }
        config.label = clusterLabel
        config.snapshotPath = snapshot
        config.onSnapshotWritten = { emit("snapshot-written \($0)") }
        var tags = Tags()
        for t in tag {
            let parts = t.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw ValidationError("--tag wants key=value, got \(t)") }
            tags[String(parts[0])] = String(parts[1])
        }
        config.tags = tags
        config.settings.probeInterval = .milliseconds(probeIntervalMs)
        config.settings.probeTimeout = .milliseconds(probeTimeoutMs)
        config.settings.gossipInterval = .milliseconds(gossipIntervalMs)
        config.settings.pushPullInterval = .milliseconds(pushPullIntervalMs)
        config.settings.joinRetryInterval = .milliseconds(joinRetryMs)
        config.settings.gossipToTheDead = .milliseconds(gossipToTheDeadMs)
        config.settings.userEventCoalescePeriod = .milliseconds(coalesceMs)
        let node: GossipNode
        do { node = try GossipNode(configuration: config) } catch { throw ValidationError("\(error)") }
        let events = await node.events()
        let userEvents = await node.userEvents()
        let incoming = await node.incomingQueries()
        let answer = queryResponse.map { Array($0.utf8) }
        let stateUpdates = await node.stateChanges()
        let applicationPrinter = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await u in userEvents {
                        switch u {
                        case .event(let e):
                            emit(
                                "user-event \(Limits.escaped(e.name)) \(e.time) \(Limits.escaped(e.origin)) \(Limits.escaped(String(decoding: e.payload, as: UTF8.self)))"
                            )
                        case .lost(let n): emit("user-events-lost \(n)")
                        }
                    }
                }
                group.addTask {
                    for await u in stateUpdates {
                        switch u {
                        // Before start the replica is empty: nothing to print.
                        case .snapshot: break
                        case .change(let c): emit(StateLines.change(c))
                        case .lost(let s):
                            emit("state-resync \(s.rowCount) \(s.unavailableOwners.count)")
                            for line in StateLines.snapshot(s) { emit(line) }
                        }
                    }
                }
                group.addTask {
                    for await u in incoming {
                        switch u {
                        case .query(let q):
                            emit(
                                "query-received \(Limits.escaped(q.name)) \(q.time) \(Limits.escaped(q.origin)) \(Limits.escaped(String(decoding: q.payload, as: UTF8.self)))"
                            )
                            if let answer { try? await node.respond(to: q.responder, payload: answer) }
                        case .lost(let n): emit("queries-lost \(n)")
                        }
                    }
                }
            }
        }
        let printer = Task {
            for await update in events {
                switch update {
                case .event(let event):
                    let m = event.member
                    emit("\(event.kind) \(Limits.escaped(m.name)) \(m.address) \(m.incarnation)")
                case .lost(let members):
                    emit("events-lost \(members.count)")
                }
            }
        }
        let started = try await node.start()
        emit("ready \(name) \(started.address)\(started.rejoining > 0 ? " rejoining \(started.rejoining)" : "")")
        if !join.isEmpty {
            do {
                let n = try await node.join(join, replayEvents: replay)
                emit("join-completed \(n)")
            } catch {
                logger.error("\(error)")
                emit("join-failed \(Limits.escaped("\(error)"))")
                await node.stop()
                await printer.value
                throw ExitCode(1)
            }
        }
        let commands = Task {
            var c = Commands(node: node)
            await c.run()
        }
        let group = ServiceGroup(
            services: [node], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
        commands.cancel()
        await printer.value
        await applicationPrinter.value
        emit("stopped \(name)")
    }
}

/// One line straight to file descriptor 1: a pipe makes stdio fully buffered, and a test reads
/// line by line.
func emit(_ line: String) {
    var bytes = Array((line + "\n").utf8)[...]
    while !bytes.isEmpty {
        let n = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        bytes = bytes.dropFirst(n)
    }
}

extension GossipNodeCommand {
    /// Inside an async function the async `main` wins overload resolution; at top level the
    /// synchronous one of ParsableCommand would, and it refuses async commands.
    static func start() async { await main() }
}

await GossipNodeCommand.start()
