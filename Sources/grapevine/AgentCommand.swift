import ArgumentParser

/// `grapevine agent`: runs the agent. Placeholder; the agent's own change fills it in.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent", abstract: "Run the agent.")

    func run() async throws {}
}
