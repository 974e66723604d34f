import ArgumentParser

/// `gossip-node` next to `serf agent` in loopback clusters, in the same run: idle cost (the
/// default subcommand), user-event latency and bytes (`events`), and replicated-state row
/// latency and bytes (`state`, gossip-node alone), and crash detection (`detection`).
struct GossipBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gossip-bench", abstract: "gossip-node vs serf agent in loopback clusters.",
        subcommands: [Idle.self, Events.self, StateBench.self, Detection.self], defaultSubcommand: Idle.self)
}

GossipBench.main()
