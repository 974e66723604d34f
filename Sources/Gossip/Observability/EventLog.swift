import GossipCore
import Logging

/// Log lines for what the core reports: membership events at debug (`events()` is the
/// interface for them; at info they would be thousands of lines in a large cluster), conflicts
/// and refusals at warning, rate-limited.
extension NodeRuntime {
    /// Tags as `k=v,k=v`, each part escaped.
    static func escaped(_ tags: Tags) -> String {
        tags.map { "\(Limits.escaped($0.key))=\(Limits.escaped($0.value))" }.joined(separator: ",")
    }

    func log(_ event: MembershipEvent) {
        guard logger.logLevel <= .debug else { return }
        let m = event.member
        var metadata: Logger.Metadata = [
            "gossip.peer": "\(Limits.escaped(m.name))", "gossip.peer.address": "\(m.address)",
            "gossip.peer.incarnation": "\(m.incarnation)", "gossip.event": "\(event.kind)",
        ]
        if !m.tags.isEmpty && (event.kind == .joined || event.kind == .updated) {
            metadata["gossip.peer.tags"] = "\(Self.escaped(m.tags))"
        }
        logger.debug("member \(event.kind)", metadata: metadata)
    }

    /// The core refused input (already counted in `Counters.refusals`, exported by `flush`):
    /// the first of each reason is logged with its sender, the rest go into the minute's summary.
    func refused(_ reason: Refusal, from: Address) {
        if coreRefusalReports.record(reason, reason: reason.description) == .report {
            logger.warning(
                "refused input from \(from): \(reason) (further refusals are summarised once a minute)",
                metadata: ["gossip.peer.address": "\(from)", "gossip.reason": "\(reason)"])
        }
    }

    func nameConflict(_ c: NameConflict) {
        metrics.nameConflict()
        logger.warning(
            "\(c)\(c.isSelf ? " (this node's own name)" : "")",
            metadata: [
                "gossip.peer": "\(Limits.escaped(c.name))", "gossip.peer.address": "\(c.claimed)",
                "gossip.conflict.known": "\(c.known)",
            ])
    }
}
