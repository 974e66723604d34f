// The JSON bodies of the control API (Docs/API.md). Field names are the JSON keys.

/// One cluster member.
public struct MemberView: Codable, Sendable, Hashable {
    public var name: String
    /// `host:port` (IPv6 in brackets).
    public var address: String
    /// `alive`, `suspect`, `failed` or `left`.
    public var status: String
    public var incarnation: UInt64
    public var tags: [String: String]

    public init(name: String, address: String, status: String, incarnation: UInt64, tags: [String: String]) {
        self.name = name
        self.address = address
        self.status = status
        self.incarnation = incarnation
        self.tags = tags
    }
}

public struct JoinRequest: Codable, Sendable, Hashable {
    public var seeds: [String]
    public var replay: Bool?
    public init(seeds: [String], replay: Bool? = nil) {
        self.seeds = seeds
        self.replay = replay
    }
}

public struct EventRequest: Codable, Sendable, Hashable {
    public var name: String
    /// UTF-8 text; at most the user-event size limit together with the name.
    public var payload: String?
    public var coalesce: Bool?
    public init(name: String, payload: String? = nil, coalesce: Bool? = nil) {
        self.name = name
        self.payload = payload
        self.coalesce = coalesce
    }
}

public struct QueryRequestBody: Codable, Sendable, Hashable {
    public var name: String
    public var payload: String?
    /// Only these members answer (all when empty).
    public var nodes: [String]?
    /// Only members whose tag matches each regular expression answer.
    public var tags: [String: String]?
    public var timeoutMilliseconds: Int?
    public var relayFactor: Int?
    public var noAck: Bool?
    public init(name: String, payload: String? = nil, nodes: [String]? = nil, tags: [String: String]? = nil,
                timeoutMilliseconds: Int? = nil, relayFactor: Int? = nil, noAck: Bool? = nil) {
        self.name = name
        self.payload = payload
        self.nodes = nodes
        self.tags = tags
        self.timeoutMilliseconds = timeoutMilliseconds
        self.relayFactor = relayFactor
        self.noAck = noAck
    }
}

/// One record of a query's stream: `ack` (from), `response` (from, payload), then `done`.
public struct QueryRecord: Codable, Sendable, Hashable {
    public var type: String
    public var from: String?
    public var payload: String?
    /// On `done`: `all-responded` or `timeout`.
    public var outcome: String?
    public init(type: String, from: String? = nil, payload: String? = nil, outcome: String? = nil) {
        self.type = type
        self.from = from
        self.payload = payload
        self.outcome = outcome
    }
}

/// `POST /v1/force-leave`: the failed member to remove; `prune` (default false) also forgets it.
public struct ForceLeaveRequest: Codable, Sendable, Hashable {
    public var node: String
    public var prune: Bool?
    public init(node: String, prune: Bool? = nil) {
        self.node = node
        self.prune = prune
    }
}

public struct TagsRequest: Codable, Sendable, Hashable {
    public var set: [String: String]?
    public var delete: [String]?
    public init(set: [String: String]? = nil, delete: [String]? = nil) {
        self.set = set
        self.delete = delete
    }
}

public struct KeyRequest: Codable, Sendable, Hashable {
    /// `install`, `use`, `remove` or `list`.
    public var operation: String
    /// Base64 of 32 bytes; absent for `list`.
    public var key: String?
    public init(operation: String, key: String? = nil) {
        self.operation = operation
        self.key = key
    }
}

/// The outcome of a key operation on every member (Serf's `keys` report).
public struct KeysView: Codable, Sendable, Hashable {
    public var members: Int
    public var responded: Int
    /// Members that answered with an error, and the error.
    public var failures: [String: String]
    /// For `list`: each key (base64) and how many members hold it.
    public var keys: [String: Int]
    public var complete: Bool
    public init(members: Int, responded: Int, failures: [String: String], keys: [String: Int], complete: Bool) {
        self.members = members
        self.responded = responded
        self.failures = failures
        self.keys = keys
        self.complete = complete
    }
}

public struct EndpointRequest: Codable, Sendable, Hashable {
    /// A configured network's name.
    public var network: String
    /// `aa:bb:cc:dd:ee:ff`, unicast.
    public var mac: String
    public var ip: String?
    public var ip6: String?
    public var name: String?
    public init(network: String, mac: String, ip: String? = nil, ip6: String? = nil, name: String? = nil) {
        self.network = network
        self.mac = mac
        self.ip = ip
        self.ip6 = ip6
        self.name = name
    }
}

public struct EndpointView: Codable, Sendable, Hashable {
    public var network: String
    public var vni: UInt32
    public var mac: String
    public var ip: String?
    public var ip6: String?
    public var name: String?
    /// The claim's Lamport time.
    public var claim: UInt64
    public init(network: String, vni: UInt32, mac: String, ip: String?, ip6: String?, name: String?, claim: UInt64) {
        self.network = network
        self.vni = vni
        self.mac = mac
        self.ip = ip
        self.ip6 = ip6
        self.name = name
        self.claim = claim
    }
}

public struct NetworkView: Codable, Sendable, Hashable {
    public var name: String
    public var vni: UInt32
    public var device: String
    public var bridge: String
    public var mtu: UInt32
    /// Live hosts taking part, this one included, sorted.
    public var hosts: [String]
    public var localEndpoints: Int
    public var remoteEndpoints: Int
    /// Rows the device should hold (flood + unicast + neighbour).
    public var desiredRows: Int
    /// Claims on one MAC or IP by several hosts, as text; the newest wins.
    public var conflicts: [String]
    public init(name: String, vni: UInt32, device: String, bridge: String, mtu: UInt32, hosts: [String],
                localEndpoints: Int, remoteEndpoints: Int, desiredRows: Int, conflicts: [String]) {
        self.name = name
        self.vni = vni
        self.device = device
        self.bridge = bridge
        self.mtu = mtu
        self.hosts = hosts
        self.localEndpoints = localEndpoints
        self.remoteEndpoints = remoteEndpoints
        self.desiredRows = desiredRows
        self.conflicts = conflicts
    }
}

/// One row of `fdb`: desired against actual.
public struct FDBLine: Codable, Sendable, Hashable {
    /// `flood`, `unicast` or `neighbor`.
    public var kind: String
    /// The MAC (flood: `00:00:00:00:00:00`) or, for neighbours, the IP.
    public var key: String
    /// What the agent wants: a VTEP, or for neighbours a MAC; nil when it wants no row.
    public var desired: String?
    /// What the kernel holds; nil when it holds none.
    public var actual: String?
    /// Who wrote the kernel's row: `ours`, `learned`, `foreign`; nil when none.
    public var origin: String?
    /// `ok`, `missing`, `wrong`, `extra` (ours, not wanted), `blocked` (an operator's row is
    /// in the way), `foreign` (an operator's row the agent leaves alone).
    public var status: String
    public init(kind: String, key: String, desired: String?, actual: String?, origin: String?, status: String) {
        self.kind = kind
        self.key = key
        self.desired = desired
        self.actual = actual
        self.origin = origin
        self.status = status
    }
}

public struct FDBView: Codable, Sendable, Hashable {
    public var network: String
    public var vni: UInt32
    public var device: String
    public var lines: [FDBLine]
    /// True when no line is `missing`, `wrong` or `extra`.
    public var inSync: Bool
    public init(network: String, vni: UInt32, device: String, lines: [FDBLine], inSync: Bool) {
        self.network = network
        self.vni = vni
        self.device = device
        self.lines = lines
        self.inSync = inSync
    }
}

public struct InfoView: Codable, Sendable, Hashable {
    public var name: String
    public var address: String
    public var vtep: String
    public var version: String
    public var encrypted: Bool
    /// Members by status (`alive`, `suspect`, `failed`, `left`).
    public var members: [String: Int]
    public var networks: Int
    public var localEndpoints: Int
    public var replicatedRows: Int
    public var reconciles: UInt64
    public var rowsWritten: UInt64
    public var driftRepairs: UInt64
    public var netlinkErrors: UInt64
    /// Seconds since the agent started.
    public var uptimeSeconds: Double
    /// The underlay under the overlay; nil from an agent that predates it.
    public var underlay: UnderlayView?
    public init(name: String, address: String, vtep: String, version: String, encrypted: Bool, members: [String: Int],
                networks: Int, localEndpoints: Int, replicatedRows: Int, reconciles: UInt64, rowsWritten: UInt64,
                driftRepairs: UInt64, netlinkErrors: UInt64, uptimeSeconds: Double, underlay: UnderlayView? = nil) {
        self.name = name
        self.address = address
        self.vtep = vtep
        self.version = version
        self.encrypted = encrypted
        self.members = members
        self.networks = networks
        self.localEndpoints = localEndpoints
        self.replicatedRows = replicatedRows
        self.reconciles = reconciles
        self.rowsWritten = rowsWritten
        self.driftRepairs = driftRepairs
        self.netlinkErrors = netlinkErrors
        self.uptimeSeconds = uptimeSeconds
        self.underlay = underlay
    }
}

/// The underlay as the agent sees it (`InfoView.underlay`).
public struct UnderlayView: Codable, Sendable, Hashable {
    /// The device that holds (or last held) the VTEP address; nil when none did.
    public var device: String?
    /// That device's MTU, bytes.
    public var deviceMTU: UInt32?
    /// `underlay_mtu` when configured (it wins over the device's).
    public var configuredMTU: Int?
    /// The VXLAN devices' and bridges' MTU, bytes.
    public var overlayMTU: UInt32
    /// The VTEP and bind addresses that are on no device of this host.
    public var missingAddresses: [String]
    /// Times one of them was removed while the agent ran.
    public var addressLosses: UInt64
    /// What the operator must fix, one sentence each; empty when all is well.
    public var problems: [String]

    public init(device: String?, deviceMTU: UInt32?, configuredMTU: Int?, overlayMTU: UInt32, missingAddresses: [String],
                addressLosses: UInt64, problems: [String]) {
        self.device = device
        self.deviceMTU = deviceMTU
        self.configuredMTU = configuredMTU
        self.overlayMTU = overlayMTU
        self.missingAddresses = missingAddresses
        self.addressLosses = addressLosses
        self.problems = problems
    }
}

/// One record of `/v1/monitor`.
/// - `member`: `event` (`member-join`, `member-leave`, `member-failed`, `member-update`,
///   `member-reap`), `name`, `address`.
/// - `row`: `event` (`added`, `updated`, `removed`, `owner-unavailable`, `owner-available`),
///   `name` (the owner), `table`, `key`.
/// - `log`: `level`, `message`.
/// - `lost`: `count` records dropped for a slow consumer.
public struct MonitorRecord: Codable, Sendable, Hashable {
    public var type: String
    /// Seconds since the Unix epoch.
    public var time: Double
    public var event: String?
    public var name: String?
    public var address: String?
    public var table: String?
    public var key: String?
    public var level: String?
    public var message: String?
    public var count: Int?
    public init(type: String, time: Double, event: String? = nil, name: String? = nil, address: String? = nil,
                table: String? = nil, key: String? = nil, level: String? = nil, message: String? = nil, count: Int? = nil) {
        self.type = type
        self.time = time
        self.event = event
        self.name = name
        self.address = address
        self.table = table
        self.key = key
        self.level = level
        self.message = message
        self.count = count
    }
}

/// The body of every refused request.
public struct ErrorBody: Codable, Sendable, Hashable {
    public var error: AgentError
    public init(error: AgentError) { self.error = error }
}
