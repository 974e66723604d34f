import ArgumentParser
import GrapevineAPI

struct MembersCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "members", abstract: "List the cluster's members.",
        discussion: "Filters are regular expressions matched against the whole value, as Serf's.")

    @OptionGroup var options: ClientOptions
    @Option(help: "Only members whose status (alive, suspect, failed, left) matches.") var status: String?
    @Option(help: "Only members whose name matches.") var name: String?
    @Option(help: ArgumentHelp("Only members whose tag K matches RE; repeatable.", valueName: "K=RE")) var tag: [String] = []

    func validate() throws {
        for filter in tag where keyValue(filter) == nil { throw ValidationError("--tag '\(filter)' is not K=RE") }
    }

    func call(_ api: APIClient) async throws {
        var query: [(String, String)] = []
        if let status { query.append(("status", status)) }
        if let name { query.append(("name", name)) }
        query += tag.map { ("tag", $0) }
        let answer = try await api.send(.get, "/v1/members" + queryString(query))
        guard options.format == .table else { return printJSON(answer) }
        let members = try decodeAnswer([MemberView].self, answer, from: api)
        Table(header: ["NAME", "ADDRESS", "STATUS", "TAGS"],
              rows: members.map { [$0.name, $0.address, $0.status, tagList($0.tags)] }).print()
    }
}

struct JoinCommand: ClientCommand {
    static let configuration = CommandConfiguration(commandName: "join", abstract: "Join the cluster through one or more members.")

    @OptionGroup var options: ClientOptions
    @Flag(help: "Replay past user events from the members joined.") var replay = false
    @Argument(help: ArgumentHelp("Members to join through.", valueName: "host[:port]")) var addresses: [String]

    func validate() throws {
        if addresses.isEmpty { throw ValidationError("give at least one address to join") }
    }

    func call(_ api: APIClient) async throws {
        let answer = try await api.send(.post, "/v1/join", body: JoinRequest(seeds: addresses, replay: replay))
        guard options.format == .table else { return printJSON(answer) }
        print("Joined through \(try decodeAnswer(JoinReply.self, answer, from: api).joined) member(s).")
    }
}

struct LeaveCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "leave", abstract: "Leave the cluster gracefully; the agent then exits.")

    @OptionGroup var options: ClientOptions

    func call(_ api: APIClient) async throws {
        let answer = try await api.send(.post, "/v1/leave")
        guard options.format == .table else { return printJSON(answer) }
        print("Left the cluster.")
    }
}

struct ForceLeaveCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "force-leave", abstract: "Remove a failed member now; every host withdraws its rows.",
        discussion: "As Serf's force-leave: refused for a member that is alive or suspect, or a name not known.")

    @OptionGroup var options: ClientOptions
    @Flag(help: "Also forget the member at once instead of keeping it as left.") var prune = false
    @Argument(help: ArgumentHelp("The failed member's name.", valueName: "NODE")) var node: String

    func call(_ api: APIClient) async throws {
        let answer = try await api.send(.post, "/v1/force-leave", body: ForceLeaveRequest(node: node, prune: prune))
        guard options.format == .table else { return printJSON(answer) }
        let reply = try decodeAnswer(ForceLeaveReply.self, answer, from: api)
        print(reply.pruned ? "Forced \(reply.node) to leave and forgot it." : "Forced \(reply.node) to leave.")
    }
}

struct TagsCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "tags", abstract: "Set or delete this member's tags; prints the tags after the change.")

    @OptionGroup var options: ClientOptions
    @Option(help: ArgumentHelp("Set tag K to V; repeatable.", valueName: "K=V")) var set: [String] = []
    @Option(help: ArgumentHelp("Delete tag K; repeatable.", valueName: "K")) var delete: [String] = []

    func validate() throws {
        for pair in set where keyValue(pair) == nil { throw ValidationError("--set '\(pair)' is not K=V") }
    }

    func call(_ api: APIClient) async throws {
        let tags = Dictionary(set.compactMap(keyValue), uniquingKeysWith: { _, last in last })
        let answer = try await api.send(.post, "/v1/tags", body: TagsRequest(set: tags, delete: delete))
        guard options.format == .table else { return printJSON(answer) }
        let reply = try decodeAnswer(TagsReply.self, answer, from: api)
        Table(header: ["TAG", "VALUE"], rows: reply.tags.sorted { $0.key < $1.key }.map { [$0.key, $0.value] }).print()
    }
}
