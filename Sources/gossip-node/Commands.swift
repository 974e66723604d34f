import Gossip
import NIOPosix

/// Commands read from standard input, one per line, for scripts, process tests and the event
/// benchmark: `event [--coalesce] NAME [PAYLOAD...]`, `query [--tag K=RE]... [--node N]... [--timeout-ms T]
/// [--relay K] [--no-ack] NAME [PAYLOAD...]`, `tags K=V...`, `keys install|use|remove KEY` and
/// `keys list` (cluster-wide, as `serf keys`), `row set TABLE KEY VALUE...`, `row rm TABLE KEY`
/// and `rows [OWNER]`. Each prints its result as lines.
struct Commands {
    let node: GossipNode
    var nextQuery = 1

    /// Reads standard input until it ends; the node keeps running after that.
    mutating func run() async {
        while true {
            // End of input and a stopped pool both end the loop (`try?` flattens the optionals).
            guard let line = try? await NIOThreadPool.singleton.runIfActive({ readLine(strippingNewline: true) }) else {
                return
            }
            await perform(line)
        }
    }

    mutating func perform(_ line: String) async {
        var words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)[...]
        guard let command = words.popFirst() else { return }
        do {
            switch command {
            case "event":
                let coalesce = words.first == "--coalesce"
                if coalesce { words.removeFirst() }
                guard let name = words.popFirst() else { return emit("error event wants a name") }
                let time = try await node.fireEvent(name, payload: Array(words.joined(separator: " ").utf8), coalesce: coalesce)
                emit("event-fired \(Limits.escaped(name)) \(time)")
            case "query":
                try await query(&words)
            case "tags":
                var tags = Tags()
                for pair in words {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2 else { return emit("error tags wants key=value, got \(Limits.escaped(pair))") }
                    tags[String(kv[0])] = String(kv[1])
                }
                try await node.setTags(tags)
                emit("tags-set")
            case "keys":
                try await keys(&words)
            case "row":
                try await row(&words)
            case "rows":
                let rows: [StateRow]
                if let owner = words.popFirst() {
                    rows = await node.rows(of: owner)
                } else {
                    let all = await node.stateSnapshot().rows
                    rows = all.keys.sorted().flatMap { all[$0] ?? [] }
                }
                for r in rows { emit(StateLines.row("row", r)) }
                emit("rows-done \(rows.count)")
            default:
                emit("error unknown command \(Limits.escaped(command)) (event, query, tags, keys, row, rows)")
            }
        } catch {
            emit("error \(Limits.escaped("\(error)"))")
        }
    }

    /// `row set TABLE KEY VALUE...` (the value is the rest of the line) and `row rm TABLE KEY`.
    private func row(_ words: inout ArraySlice<String>) async throws {
        let op = words.popFirst()
        guard op == "set" || op == "rm", let table = words.popFirst(), let key = words.popFirst() else {
            return emit("error row wants set TABLE KEY VALUE or rm TABLE KEY")
        }
        if op == "set" {
            let version = try await node.writeRow(table: table, key: key, value: Array(words.joined(separator: " ").utf8))
            emit("row-written \(Limits.escaped(table)) \(Limits.escaped(key)) \(version)")
        } else {
            try await node.deleteRow(table: table, key: key)
            emit("row-deleted \(Limits.escaped(table)) \(Limits.escaped(key))")
        }
    }

    /// `keys install|use|remove BASE64` and `keys list`: one step on every member; prints the
    /// report, one `keys-…` line per fact, ending with `keys-done OP complete|incomplete`.
    private func keys(_ words: inout ArraySlice<String>) async throws {
        guard let op = words.popFirst() else { return emit("error keys wants install, use, remove or list") }
        let report: KeyReport
        if op == "list" {
            report = try await node.keysEverywhere()
        } else {
            guard let text = words.popFirst() else { return emit("error keys \(Limits.escaped(op)) wants a base64 key") }
            let key: SecretKey
            do { key = try SecretKey(base64: text) } catch { return emit("error bad key: \(error)") }
            switch op {
            case "install": report = try await node.installKeyEverywhere(key)
            case "use": report = try await node.useKeyEverywhere(key)
            case "remove": report = try await node.removeKeyEverywhere(key)
            default: return emit("error keys wants install, use, remove or list, got \(Limits.escaped(op))")
            }
        }
        emit("keys-report \(report.operation) asked=\(report.asked) applied=\(report.applied.count) failed=\(report.failed.count) missing=\(report.missing.count)")
        for (name, message) in report.failed.sorted(by: { $0.key < $1.key }) {
            emit("keys-failed \(Limits.escaped(name)) \(Limits.escaped(message))")
        }
        for name in report.missing { emit("keys-missing \(Limits.escaped(name))") }
        for (key, holders) in report.keys.sorted(by: { $0.key < $1.key }) {
            emit("keys-key \(key) held=\(holders) primary=\(report.primaries[key] ?? 0)")
        }
        emit("keys-done \(report.operation) \(report.isComplete ? "complete" : "incomplete")")
    }

    private mutating func query(_ words: inout ArraySlice<String>) async throws {
        var request = QueryRequest(name: "")
        while let w = words.first, w.hasPrefix("--") {
            words.removeFirst()
            switch w {
            case "--no-ack": request.wantsAcks = false
            case "--tag", "--node", "--timeout-ms", "--relay":
                guard let v = words.popFirst() else { return emit("error \(w) wants a value") }
                switch w {
                case "--tag":
                    let kv = v.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2 else { return emit("error --tag wants key=pattern") }
                    do { request.filters.append(.tag(key: String(kv[0]), pattern: try FilterPattern(String(kv[1])))) } catch {
                        return emit("error --tag \(Limits.escaped(v)): \(error)")
                    }
                case "--node": request.filters.append(.nodes([v]))
                case "--timeout-ms":
                    guard let ms = Int64(v), ms > 0 else { return emit("error --timeout-ms wants a positive number") }
                    request.timeout = .milliseconds(ms)
                default:
                    guard let k = Int(v) else { return emit("error --relay wants a number") }
                    request.relayFactor = k
                }
            default: return emit("error unknown query option \(Limits.escaped(w))")
            }
        }
        guard let name = words.popFirst() else { return emit("error query wants a name") }
        request.name = name
        request.payload = Array(words.joined(separator: " ").utf8)
        let id = nextQuery
        nextQuery += 1
        let updates = try await node.query(request)
        // Answers are printed as they arrive while further commands are read.
        Task {
            var acks = 0
            var responses = 0
            for await u in updates {
                switch u {
                case .ack(let from):
                    acks += 1
                    emit("query-ack \(id) \(Limits.escaped(from))")
                case .response(let from, let payload):
                    responses += 1
                    emit("query-response \(id) \(Limits.escaped(from)) \(Limits.escaped(String(decoding: payload, as: UTF8.self)))")
                case .finished(let end):
                    let outcome =
                        switch end {
                        case .allResponded: "all-responded"
                        case .timeout(let missing): "timeout missing=\(missing)"
                        }
                    emit("query-done \(id) \(outcome) acks=\(acks) responses=\(responses)")
                }
            }
        }
    }
}
