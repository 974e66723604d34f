import ArgumentParser

/// `grapevine`: the agent (`grapevine agent`) and the commands that talk to its control API.
///
/// Exit codes (Docs/API.md, "Command line"): 0 success; 1 the agent refused the request;
/// 2 the agent could not be reached; 3 `fdb --check` found the kernel out of sync;
/// 64 a usage error.
@main
struct Grapevine: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grapevine",
        abstract: "A gossip-run VXLAN overlay: the agent and its command line.",
        discussion: """
            Exit codes: 0 success, 1 the agent refused the request, 2 the agent could not be \
            reached, 3 fdb --check found differences, 64 usage error.
            """,
        subcommands: [
            AgentCommand.self, MembersCommand.self, JoinCommand.self, LeaveCommand.self, ForceLeaveCommand.self, EventCommand.self,
            QueryCommand.self, TagsCommand.self, KeysCommand.self, KeygenCommand.self, EndpointCommand.self,
            NetworkCommand.self, FDBCommand.self, InfoCommand.self, MonitorCommand.self, DNSCommand.self, IpamCommand.self,
        ]
    )
}
