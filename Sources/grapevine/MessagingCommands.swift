import ArgumentParser
import NIOCore
import GrapevineAPI

struct EventCommand: ClientCommand {
    static let configuration = CommandConfiguration(commandName: "event", abstract: "Send a user event to every member.")

    @OptionGroup var options: ClientOptions
    @Flag(help: "Let members coalesce this event with newer ones of the same name.") var coalesce = false
    @Argument(help: "The event's name.") var name: String
    @Argument(help: "The event's payload (UTF-8 text).") var payload: String?

    func call(_ api: APIClient) async throws {
        let answer = try await api.send(.post, "/v1/event", body: EventRequest(name: name, payload: payload, coalesce: coalesce))
        guard options.format == .table else { return printJSON(answer) }
        print("Event '\(name)' sent (ltime \(try decodeAnswer(EventReply.self, answer, from: api).ltime)).")
    }
}

struct QueryCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "query", abstract: "Send a query and print acks and responses as they come.",
        discussion: "Exits 0 once the query completed, also when it ended by timeout.")

    @OptionGroup var options: ClientOptions
    @Option(help: ArgumentHelp("Only this member answers; repeatable.", valueName: "name")) var node: [String] = []
    @Option(help: ArgumentHelp("Only members whose tag K matches RE answer; repeatable.", valueName: "K=RE")) var tag: [String] = []
    @Option(help: ArgumentHelp("How long to wait for responses (e.g. 500ms, 5s, 1m).", valueName: "duration"))
    var timeout: String?
    @Flag(help: "Ask members not to acknowledge.") var noAck = false
    @Option(help: "How many extra members relay each response.") var relayFactor: Int?
    @Argument(help: "The query's name.") var name: String
    @Argument(help: "The query's payload (UTF-8 text).") var payload: String?

    func validate() throws {
        for filter in tag where keyValue(filter) == nil { throw ValidationError("--tag '\(filter)' is not K=RE") }
        if let timeout, milliseconds(timeout) == nil { throw ValidationError("--timeout '\(timeout)' is not a duration like 500ms, 5s or 1m") }
        if let relayFactor, !(0...5).contains(relayFactor) { throw ValidationError("--relay-factor must be 0...5") }
    }

    func call(_ api: APIClient) async throws {
        let timeoutMilliseconds = timeout.flatMap(milliseconds)
        let body = QueryRequestBody(
            name: name, payload: payload, nodes: node.isEmpty ? nil : node,
            tags: tag.isEmpty ? nil : Dictionary(tag.compactMap(keyValue), uniquingKeysWith: { _, last in last }),
            timeoutMilliseconds: timeoutMilliseconds, relayFactor: relayFactor, noAck: noAck ? true : nil)
        // The agent ends the stream at the query's timeout; a minute more is for a stuck agent.
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeoutMilliseconds ?? 60_000) + 60_000)
        var acks = 0
        var responses = 0
        let format = options.format
        try await api.stream(.post, "/v1/query", body: body, deadline: deadline) { line in
            guard format == .table else { return printJSON(line) }
            let record = try decodeAnswer(QueryRecord.self, line, from: api)
            switch record.type {
            case "ack":
                acks += 1
                print("Ack from '\(record.from ?? "?")'")
            case "response":
                responses += 1
                print("Response from '\(record.from ?? "?")': \(record.payload ?? "")")
            case "done":
                print("Total acks: \(acks), responses: \(responses) (\(record.outcome ?? "done"))")
            default:
                print("\(record.type): \(record.from ?? "") \(record.payload ?? "")")
            }
        }
    }
}

/// `500ms`, `5s`, `1.5s`, `2m` (or a bare number of seconds) in milliseconds; nil when not
/// a duration or not in 1 ms...1 h.
func milliseconds(_ text: String) -> Int? {
    let units: [(suffix: String, scale: Double)] = [("ms", 1), ("s", 1_000), ("m", 60_000)]
    let (number, scale) = units.first { text.hasSuffix($0.suffix) }
        .map { (text.dropLast($0.suffix.count), $0.scale) } ?? (Substring(text), 1_000)
    guard let value = Double(number), value.isFinite else { return nil }
    let result = value * scale
    guard (1...3_600_000).contains(result) else { return nil }
    return Int(result)
}
