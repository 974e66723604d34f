import ArgumentParser

/// `gossip-node` next to `serf agent` in loopback clusters, in the same run: idle cost (the
/// default subcommand) and user-event latency and bytes (`events`).
struct GossipBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gossip-bench", abstract: "gossip-node vs serf agent in loopback clusters.",
        subcommands: [Idle.self, Events.self], defaultSubcommand: Idle.self)
}

GossipBench.main()
