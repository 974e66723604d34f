import Logging
import Overlay

/// One option of `grapevine agent`: its config-file key, and the environment variable and
/// flag derived from it (`data_dir` is `GRAPEVINE_DATA_DIR` and `--data-dir`). Environment
/// variables and flags carry text; `AgentConfiguration.set(_:_:)` parses it the same way for
/// both, so one option never reads differently depending on where it came from.
public struct AgentOption: Sendable, Hashable {
    public var key: String
    public var help: String
    /// Several values: a flag may be repeated, an environment variable separates them by commas.
    public var repeats: Bool
    /// A switch: the flag takes no value; the variable takes `true`/`false`/`1`/`0`.
    public var isSwitch: Bool

    public var environmentVariable: String { "GRAPEVINE_" + key.uppercased() }
    public var flag: String { "--" + key.replacingUnderscores() }

    public static let all: [AgentOption] = [
        .init("name", "Member name, unique in the cluster (default: the host name)."),
        .init("bind", "Gossip address, host:port (default 0.0.0.0:7946)."),
        .init("advertise", "Address other members reach this one at, host:port."),
        .init("join", "A seed to join at start, host[:port]; retried until one answers.", repeats: true),
        .init("key_file", "File holding the base64 cluster key (grapevine keygen)."),
        .init("insecure", "Run without encryption: anyone who can reach the port can join and forge rows.", isSwitch: true),
        .init("label", "Cluster label; agents with another label are refused."),
        .init("data_dir", "Directory for the snapshot and the endpoint registry (default /var/lib/grapevine)."),
        .init("api_socket", "The control API's Unix socket (default /run/grapevine/grapevine.sock)."),
        .init("api_group", "Group allowed to use the API socket (default: root only)."),
        .init("api_address", "Also serve the API on this loopback host:port."),
        .init("vtep", "Underlay IP of this host's VXLAN traffic (default: the gossip address's IP)."),
        .init("vxlan_port", "VXLAN UDP port (default 4789)."),
        .init("underlay_mtu", "MTU of the underlay; devices get it minus 50 (IPv4) or 70 (IPv6). Default: the MTU of the device holding the VTEP address, followed at run time."),
        .init("reconcile_interval", "Seconds between timed full reconciles (default 60)."),
        .init("startup_grace", "Seconds after the first join during which no own kernel row is deleted (default 10)."),
        .init("log_level", "trace, debug, info, notice, warning, error or critical (default info)."),
        .init("tag", "A tag, key=value.", repeats: true),
        .init("network", "A network, NAME:VNI[:BRIDGE[:DEVICE]].", repeats: true),
        .init("handler", "An event handler, [TYPES=]COMMAND, user:NAME=COMMAND or query:NAME=COMMAND.", repeats: true),
        .init("handler_concurrency", "Handler scripts running at once (default 4)."),
        .init("handler_timeout", "Seconds before a handler script is killed (default 30)."),
        .init("docker", "Serve Docker's network and IPAM plugin protocol (docker network create -d grapevine).", isSwitch: true),
        .init("docker_plugin_socket", "The plugin's Unix socket, where dockerd finds it (default /run/docker/plugins/grapevine.sock; empty: none)."),
        .init("docker_plugin_address", "Also serve the plugin on this loopback host:port (for a .spec file)."),
        .init("docker_socket", "Docker's engine API socket, for creating replicated networks (default /var/run/docker.sock)."),
        .init("dns_address", "Serve the overlay's container names over DNS on this ip[:port] (port 53 by default); dockerd's daemon.json \"dns\" must name it."),
        .init("dns_upstream", "A resolver for names outside the overlay, ip[:port] (default: the nameservers of /etc/resolv.conf).", repeats: true),
        .init("docker_daemon_config", "dockerd's daemon.json, checked at start for the dns setting (default /etc/docker/daemon.json)."),
        .init("ipam_quarantine", "Seconds a Docker host's allocator must have been gone before its successor reclaims its address ranges (default 172800)."),
    ]

    init(_ key: String, _ help: String, repeats: Bool = false, isSwitch: Bool = false) {
        self.key = key
        self.help = help
        self.repeats = repeats
        self.isSwitch = isSwitch
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(map { $0 == "_" ? "-" : $0 }) }
}

extension AgentConfiguration {
    /// Applies one option given as text (from the environment or a flag).
    /// - Throws: `ConfigurationError` naming the option, for an unknown option or a value that
    ///   does not parse or is out of range; the configuration is unchanged then.
    public mutating func set(_ key: String, _ values: [String]) throws(ConfigurationError) {
        var copy = self
        for value in values { try copy.setOne(key, value) }
        self = copy
    }

    private mutating func setOne(_ key: String, _ value: String) throws(ConfigurationError) {
        switch key {
        case "name": name = value
        case "bind": bind = value
        case "advertise": advertise = value
        case "join": join.append(value)
        case "key_file": keyFile = value
        case "insecure": insecure = try Self.switchValue(key, value)
        case "label": label = value
        case "data_dir": dataDir = value
        case "api_socket": apiSocket = value
        case "api_group": apiGroup = value
        case "api_address": apiAddress = value
        case "vtep": vtep = value
        case "vxlan_port": vxlanPort = try Self.integer(key, value)
        case "underlay_mtu": underlayMTU = try Self.integer(key, value)
        case "reconcile_interval": reconcileInterval = try Self.integer(key, value)
        case "startup_grace": startupGrace = try Self.integer(key, value)
        case "log_level":
            guard let level = Logger.Level(rawValue: value) else {
                throw ConfigurationError(key, "unknown level '\(value)': \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            logLevel = level
        case "tag", "tags":
            guard let eq = value.firstIndex(of: "="), eq != value.startIndex else {
                throw ConfigurationError(key, "'\(value)' is not key=value")
            }
            tags[String(value[..<eq])] = String(value[value.index(after: eq)...])
        case "network", "networks": networks.append(try NetworkConfiguration(parsing: value))
        case "handler", "handlers": handlers.append(value)
        case "handler_concurrency": handlerConcurrency = try Self.integer(key, value)
        case "handler_timeout": handlerTimeout = try Self.integer(key, value)
        case "docker": docker = try Self.switchValue(key, value)
        case "docker_plugin_socket": dockerPluginSocket = value
        case "docker_plugin_address": dockerPluginAddress = value
        case "docker_socket": dockerSocket = value
        case "ipam_quarantine": ipamQuarantine = try Self.integer(key, value)
        case "dns_address": dnsAddress = value.isEmpty ? nil : value
        case "dns_upstream": dnsUpstream.append(value)
        case "docker_daemon_config": dockerDaemonConfig = value
        default: throw ConfigurationError(key, "unknown option")
        }
    }

    static func integer(_ key: String, _ text: String) throws(ConfigurationError) -> Int {
        guard let v = Int(text) else { throw ConfigurationError(key, "'\(text)' is not an integer") }
        return v
    }

    static func switchValue(_ key: String, _ text: String) throws(ConfigurationError) -> Bool {
        switch text.lowercased() {
        case "true", "1", "yes", "": return true
        case "false", "0", "no": return false
        default: throw ConfigurationError(key, "'\(text)' is not true or false")
        }
    }
}

extension NetworkConfiguration {
    /// `NAME:VNI[:BRIDGE[:DEVICE]]`, the flag and environment form.
    public init(parsing text: String) throws(ConfigurationError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (2...4).contains(parts.count), let raw = UInt32(parts[1]), let vni = VNI(raw) else {
            throw ConfigurationError("network", "'\(text)' is not NAME:VNI[:BRIDGE[:DEVICE]] with a VNI of 1 to 16777215")
        }
        self.init(name: parts[0], vni: vni, bridge: parts.count > 2 ? parts[2] : nil, device: parts.count > 3 ? parts[3] : nil)
    }
}
