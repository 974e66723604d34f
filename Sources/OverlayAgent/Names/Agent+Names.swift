#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GrapevineAPI
import Logging
import Metrics
import Overlay

extension Agent {
    /// The name service `configuration.dnsAddress` asks for, or nil.
    static func makeNameServer(_ configuration: AgentConfiguration, logger: Logger, metrics: AgentMetrics) -> NameServer? {
        guard let text = configuration.dnsAddress, let listen = NameSetup.socketAddress(text) else { return nil }
        var resolvConf: String?
        do { resolvConf = try AtomicFile.readText("/etc/resolv.conf") } catch {
            logger.warning("the host's resolvers cannot be read; give dns_upstream", metadata: ["dns.error": "\(error)"])
        }
        let upstreams = NameSetup.upstreams(configured: configuration.dnsUpstream, resolvConf: resolvConf, listen: listen)
        return NameServer(settings: .init(listen: listen, upstreams: upstreams), logger: logger, metrics: metrics.factory)
    }
}

extension Agent {
    /// `GET /v1/names`: every name of the name table, by network and name.
    public func dnsNames() async -> [NameView] {
        guard let names else { return [] }
        return names.table.views()
    }
}
