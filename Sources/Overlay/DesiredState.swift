public import Addresses

/// The rows one network's VXLAN device must hold on one host.
public struct NetworkRows: Hashable, Sendable {
    /// Flood destinations (the all-zero MAC, head-end replication): one VTEP per other live host
    /// that takes part in the network.
    public var flood: Set<IPAddress> = []
    /// Unicast FDB rows: an endpoint's MAC → its owner's VTEP.
    public var unicast: [MACAddress: IPAddress] = [:]
    /// Neighbour (ARP/NDP) rows: an endpoint's IP → its MAC, answered locally by `proxy`.
    public var neighbors: [IPAddress: MACAddress] = [:]

    public init(flood: Set<IPAddress> = [], unicast: [MACAddress: IPAddress] = [:], neighbors: [IPAddress: MACAddress] = [:]) {
        self.flood = flood
        self.unicast = unicast
        self.neighbors = neighbors
    }

    public var count: Int { flood.count + unicast.count + neighbors.count }
}

/// Two or more live hosts claim the same MAC or IP in one network. The newest claim wins
/// (`Claim`'s order); the others are not programmed anywhere until the winner withdraws.
public struct Conflict: Hashable, Sendable, CustomStringConvertible {
    public enum Subject: Hashable, Sendable, CustomStringConvertible {
        case mac(MACAddress)
        case ip(IPAddress)

        public var description: String {
            switch self {
            case .mac(let m): "MAC \(m)"
            case .ip(let a): "IP \(a)"
            }
        }
    }

    public var network: VNI
    public var subject: Subject
    public var winner: Claim
    /// Newest first.
    public var losers: [Claim]

    public var description: String {
        "network \(network): \(subject) claimed by \(winner), also by \(losers.map(\.description).joined(separator: ", "))"
    }
}

/// Rows that cannot be programmed, with the reason; each is logged and counted by the agent.
public enum Problem: Hashable, Sendable, CustomStringConvertible {
    /// Endpoints of a member that has published no host row (so no VTEP is known).
    case ownerWithoutHost(String)
    /// A host whose VTEP is of the other address family: a VXLAN device has one underlay family.
    case underlayFamilyMismatch(host: String, vtep: IPAddress)

    public var description: String {
        switch self {
        case .ownerWithoutHost(let h): "endpoints of \(h) have no host row (VTEP unknown)"
        case .underlayFamilyMismatch(let h, let v): "host \(h) has VTEP \(v), of another address family than this host's"
        }
    }
}

/// What the kernel of one host must hold, for each network it takes part in, given everything
/// it knows (`Replica`). Pure and deterministic: the same replica and host give the same rows.
///
/// The rules (Docs/ARCHITECTURE.md, "Overlay model"):
/// - A host takes part in the networks it declares and in every network it has endpoints in.
/// - Only live hosts count, for flooding and for claims: a failed host's claims are set aside
///   until it is live again (then, being newer, they win again).
/// - Per network, claims on one MAC are resolved first (`Endpoint.supersedes`: the newest
///   `Claim` wins); the losing
///   endpoints are dropped whole, IPs included, since their IPs would point at a MAC that now
///   leads elsewhere. Then claims on one IP among the remaining endpoints (newest wins).
/// - Rows are made for other hosts' winning endpoints only: this host's own endpoints sit on its
///   bridge. A winning claim of another host on a MAC this host also has is programmed: it is
///   newer, and this host's own endpoint is the stale one.
public struct DesiredState: Sendable, Equatable {
    public var networks: [VNI: NetworkRows] = [:]
    /// Sorted by network, then subject.
    public var conflicts: [Conflict] = []
    public var problems: Set<Problem> = []

    public init(for local: Host, from replica: Replica) {
        for vni in local.networks { networks[vni] = NetworkRows() }
        let family = local.vtep.family
        var participants: [VNI: Set<String>] = [:]
        // Which live, addressable host takes part in which of our networks.
        var usable: [String: Host] = [local.name: local]
        for (name, state) in replica.hosts where state.live && name != local.name {
            guard state.host.vtep.family == family else {
                problems.insert(.underlayFamilyMismatch(host: name, vtep: state.host.vtep))
                continue
            }
            usable[name] = state.host
            for vni in state.host.networks where networks[vni] != nil { participants[vni, default: []].insert(name) }
        }

        // MAC claims, per network.
        var byMAC: [MACKey: [Endpoint]] = [:]
        for e in replica.endpoints.values where networks[e.network] != nil {
            if usable[e.owner] == nil {
                if replica.hosts[e.owner] == nil && e.owner != local.name { problems.insert(.ownerWithoutHost(e.owner)) }
                continue
            }
            if e.owner != local.name { participants[e.network, default: []].insert(e.owner) }
            byMAC[MACKey(network: e.network, mac: e.mac), default: []].append(e)
        }
        var byIP: [IPKey: [Endpoint]] = [:]
        for (key, claims) in byMAC {
            let winner = resolve(claims, network: key.network, subject: .mac(key.mac))
            for ip in winner.ips { byIP[IPKey(network: key.network, ip: ip), default: []].append(winner) }
            if winner.owner != local.name, let host = usable[winner.owner] {
                networks[key.network]!.unicast[key.mac] = host.vtep
            }
        }
        for (key, claims) in byIP {
            let winner = resolve(claims, network: key.network, subject: .ip(key.ip))
            if winner.owner != local.name { networks[key.network]!.neighbors[key.ip] = winner.mac }
        }
        for (vni, hosts) in participants {
            for name in hosts { networks[vni]!.flood.insert(usable[name]!.vtep) }
        }
        // A host listing its own VTEP would flood to itself.
        for vni in networks.keys { networks[vni]!.flood.remove(local.vtep) }
        conflicts.sort { a, b in
            a.network != b.network ? a.network < b.network : a.subject < b.subject
        }
    }

    private mutating func resolve(_ claims: [Endpoint], network: VNI, subject: Conflict.Subject) -> Endpoint {
        if claims.count == 1 { return claims[0] }
        let ordered = claims.sorted { $0.supersedes($1) }
        conflicts.append(Conflict(network: network, subject: subject, winner: ordered[0].claim,
                                  losers: ordered.dropFirst().map(\.claim)))
        return ordered[0]
    }
}

private struct MACKey: Hashable {
    var network: VNI
    var mac: MACAddress
}

private struct IPKey: Hashable {
    var network: VNI
    var ip: IPAddress
}

extension Conflict.Subject {
    /// MACs before IPs, each in numeric order: a stable order for reports.
    fileprivate static func < (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case (.mac(let x), .mac(let y)): x < y
        case (.mac, .ip): true
        case (.ip, .mac): false
        case (.ip(let x), .ip(let y)): x < y
        }
    }
}
