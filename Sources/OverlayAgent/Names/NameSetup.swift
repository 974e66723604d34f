#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gossip
import NIOCore

/// The one-time host setup of the name service, and the addresses it uses.
///
/// dockerd forwards names it does not know to the daemon's `dns` servers, from inside the
/// container's network namespace, also for containers on `--internal` networks. So the host
/// setup is one line of /etc/docker/daemon.json, `"dns": ["<dns_address>"]`, and a dockerd
/// restart; nothing per container. The agent reads that file at start and says plainly when
/// the line is missing (`DaemonCheck`).
enum NameSetup {
    /// `ip` or `ip:port` (`[v6]:port`), port 53 by default; nil for anything else (no host names:
    /// a name service must not need one to start).
    static func socketAddress(_ text: String) -> SocketAddress? {
        guard let a = Address(parsing: text, defaultPort: 53) else { return nil }
        var packed = ByteBuffer()
        packed.writeBytes(a.bytes)
        return try? SocketAddress(packedIPAddress: packed, port: Int(a.port))
    }

    /// The `nameserver` lines of a resolv.conf, in order (resolv.conf(5)).
    static func nameservers(resolvConf text: String) -> [String] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0] == "nameserver" else { return nil }
            return String(fields[1])
        }
    }

    /// The upstreams: `configured` when given, else the resolv.conf's nameservers; at most 3
    /// (what a resolver tries), never the listening address itself (a host whose resolv.conf
    /// names the agent would otherwise forward to itself for ever).
    static func upstreams(configured: [String], resolvConf: String?, listen: SocketAddress) -> [SocketAddress] {
        let texts = configured.isEmpty ? resolvConf.map(nameservers) ?? [] : configured
        var out: [SocketAddress] = []
        for text in texts {
            guard let a = socketAddress(text), a != listen, !out.contains(a) else { continue }
            out.append(a)
            if out.count == 3 { break }
        }
        return out
    }

    /// What dockerd's daemon.json says about the `dns` servers.
    enum DaemonCheck: Equatable {
        case ok
        case noFile
        case unreadable(String)
        /// No `dns` key, or one that does not name the agent's address.
        case missing(have: [String])
    }

    static func checkDaemonConfig(_ data: Data?, address: String) -> DaemonCheck {
        guard let data else { return .noFile }
        struct Config: Decodable { var dns: [String]? }
        let config: Config
        do { config = try JSONDecoder().decode(Config.self, from: data) } catch {
            return .unreadable("\(error)")
        }
        let want = socketAddress(address)
        let have = config.dns ?? []
        return have.contains(where: { socketAddress($0) == want }) ? .ok : .missing(have: have)
    }

    /// The line a person must add, for the log and the docs.
    static func remedy(address: String, path: String) -> String {
        let ip = socketAddress(address)?.ipAddress ?? address
        return "add \"dns\": [\"\(ip)\"] to \(path) and restart dockerd (once per host); containers then resolve the names of every host's containers"
    }
}
