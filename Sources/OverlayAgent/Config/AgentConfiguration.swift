public import Logging
public import Overlay

/// Everything `grapevine agent` is told: from the config file (TOML), then environment
/// variables (`GRAPEVINE_<KEY>`), then command-line flags (`--key`), each overriding the one
/// before. Docs/CONFIG.md lists every option; `AgentOption.all` is the same list in code.
public struct AgentConfiguration: Sendable, Equatable {
    /// The member name, unique in the cluster. Default: the host name.
    public var name: String
    /// Gossip UDP and TCP address, `host:port`.
    public var bind: String = "0.0.0.0:7946"
    /// The address others reach this agent at, when `bind` is a wildcard or behind NAT.
    public var advertise: String?
    /// Seeds joined at start, retried until one answers.
    public var join: [String] = []
    /// File holding the base64 cluster key (`grapevine keygen`).
    public var keyFile: String?
    /// Run without encryption: must be said in so many words.
    public var insecure: Bool = false
    /// Cluster label: agents with another label are refused.
    public var label: String = ""
    /// Snapshot (members, state version) and the endpoint registry live here.
    public var dataDir: String = "/var/lib/grapevine"
    /// The control API's Unix socket.
    public var apiSocket: String = "/run/grapevine/grapevine.sock"
    /// A group whose members may use the API socket (mode 0660); root only (0600) when unset.
    public var apiGroup: String?
    /// Also serve the API on this loopback TCP address.
    public var apiAddress: String?
    /// The underlay address VXLAN packets to this host's endpoints go to. Default: the
    /// advertised (else bound) gossip address's IP.
    public var vtep: String?
    /// VXLAN UDP port (IANA's 4789).
    public var vxlanPort: Int = 4789
    /// The underlay's MTU: each VXLAN device gets this minus the encapsulation (50 bytes over
    /// IPv4, 70 over IPv6; RFC 7348's outer headers). Nil (the default): the MTU of the device
    /// that holds the VTEP address, followed while the agent runs (`Underlay`).
    public var underlayMTU: Int?
    /// Seconds between full reconciles of every device, on top of those that events trigger.
    public var reconcileInterval: Int = 60
    /// Seconds after the first join during which the agent adds and replaces kernel rows but
    /// deletes none of its own, while the replica is filled: a restart never withdraws a row
    /// only because its owner's row has not arrived yet.
    public var startupGrace: Int = 10
    public var logLevel: Logger.Level = .info
    public var tags: [String: String] = [:]
    public var networks: [NetworkConfiguration] = []
    /// Serf's syntax: `[TYPE[,TYPE...]=]COMMAND`, `user:NAME=COMMAND`, `query:NAME=COMMAND`.
    public var handlers: [String] = []
    /// Handler scripts running at once.
    public var handlerConcurrency: Int = 4
    /// Seconds before a handler script is killed.
    public var handlerTimeout: Int = 30
    /// Serve Docker's plugin protocol (Docs/DOCKER.md).
    public var docker: Bool = false
    /// Where dockerd looks for the plugin by name; empty: no socket.
    public var dockerPluginSocket: String = "/run/docker/plugins/grapevine.sock"
    /// A loopback `host:port` the plugin is also served on (named by a `.spec` file).
    public var dockerPluginAddress: String?
    /// Docker's engine API, where replicated networks are created.
    public var dockerSocket: String = "/var/run/docker.sock"
    /// Seconds a departed host's address blocks stay unclaimable (its containers may be
    /// remembered elsewhere): the replicated state's tombstone age, 48 h.
    public var ipamQuarantine: Int = 172_800
    /// The overlay's name service (Docs/DOCKER.md, "Names across hosts"): the address it
    /// listens on, `ip` or `ip:port` (port 53 by default); nil: no name service.
    public var dnsAddress: String?
    /// The resolvers names outside the overlay go to, `ip` or `ip:port`; empty: the
    /// `nameserver` lines of /etc/resolv.conf (what dockerd itself would use).
    public var dnsUpstream: [String] = []
    /// dockerd's configuration file, read at start to check that its `dns` names `dnsAddress`.
    public var dockerDaemonConfig: String = "/etc/docker/daemon.json"

    public init(name: String) {
        self.name = name
    }
}

/// One overlay network this host takes part in. The VNI identifies it across hosts; the name
/// is how this host's API and CLI refer to it.
public struct NetworkConfiguration: Sendable, Hashable {
    public var name: String
    public var vni: VNI
    /// The Linux bridge containers attach to. Default `gvbr<VNI>`.
    public var bridge: String
    /// The VXLAN device. Default `gvx<VNI>`.
    public var device: String

    public init(name: String, vni: VNI, bridge: String? = nil, device: String? = nil) {
        self.name = name
        self.vni = vni
        self.bridge = bridge ?? "gvbr\(vni.value)"
        self.device = device ?? "gvx\(vni.value)"
    }
}

/// A configuration that cannot be used: which option, and why.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var option: String
    public var message: String

    public init(_ option: String, _ message: String) {
        self.option = option
        self.message = message
    }

    public var description: String { option.isEmpty ? message : "\(option): \(message)" }
}
