import Addresses
import DNS
import GrapevineAPI
import Overlay

/// The names the overlay's DNS answers, built from the replica's endpoint rows: per network,
/// each endpoint's container name and aliases, also followed by the network's name
/// (`web` and `web.front`). Rebuilt whole after each batch of replica changes, so a withdrawn
/// row (a container stopped or removed anywhere) stops resolving with the batch that brings
/// its removal, and no answer outlives the row it came from.
///
/// Only rows of live owners count: a host the cluster holds failed keeps its rows in the
/// replica (nothing is withdrawn from the kernel), but its containers stop resolving.
struct NameTable: Sendable, Equatable {
    /// One endpoint holding a name.
    struct Holder: Hashable, Sendable, Comparable {
        var owner: String
        var mac: MACAddress
        var claim: Claim
        var addresses: [IPAddress]

        /// The order in which two containers with one name are decided: the older claim
        /// keeps the name (it was there first), then the smaller owner name and MAC, which
        /// every host computes alike from the same rows.
        static func < (a: Holder, b: Holder) -> Bool {
            if a.claim.time != b.claim.time { return a.claim.time < b.claim.time }
            if a.owner != b.owner { return a.owner < b.owner }
            return a.mac < b.mac
        }
    }

    /// A container name held by more than one endpoint of a network (the same name on two
    /// dockerds): `winner` is answered, the others are not.
    struct Conflict: Hashable, Sendable {
        var network: VNI
        var name: String
        var winner: Holder
        var losers: [Holder]
    }

    struct Network: Sendable, Equatable {
        var name: String
        var subnet: Subnet?
        /// Lowercased name → the endpoint answered for it (a container's own name; the winner
        /// when several hold it).
        var containers: [DNSName: Holder] = [:]
        /// Lowercased alias → every endpoint holding it, in `Holder` order.
        var aliases: [DNSName: [Holder]] = [:]
        /// Every endpoint address of the network → nothing; how a query's source is placed
        /// when no subnet is known.
        var members: Set<IPAddress> = []

        func holders(_ key: DNSName) -> [Holder]? {
            if let holder = containers[key] { return [holder] }
            return aliases[key]
        }
    }

    private(set) var networks: [VNI: Network] = [:]
    /// Every holder of each container name, answered or not, for `views()`.
    private var allContainers: [VNI: [String: [Holder]]] = [:]
    private(set) var conflicts: [Conflict] = []
    /// Names in rows that make no DNS name (a label over 63 bytes...): skipped, counted.
    private(set) var unusable = 0

    init() {}

    init(replica: Replica) {
        var containers: [VNI: [DNSName: [Holder]]] = [:]
        var displayNames: [VNI: [DNSName: String]] = [:]
        var aliases: [VNI: [DNSName: [Holder]]] = [:]
        for (vni, definition) in replica.definitions() where !definition.deleted {
            networks[vni] = Network(name: definition.name, subnet: definition.subnet)
        }
        for e in replica.endpoints.values {
            if replica.hosts[e.owner]?.live == false { continue }
            let holder = Holder(owner: e.owner, mac: e.mac, claim: e.claim, addresses: e.ips)
            networks[e.network, default: Network(name: "", subnet: nil)].members.formUnion(e.ips)
            if let name = e.name {
                if let key = Self.key(name) {
                    containers[e.network, default: [:]][key, default: []].append(holder)
                    displayNames[e.network, default: [:]][key] = name
                } else {
                    unusable += 1
                }
            }
            for alias in e.aliases {
                if let key = Self.key(alias) { aliases[e.network, default: [:]][key, default: []].append(holder) } else { unusable += 1 }
            }
        }
        for (vni, names) in containers {
            for (key, holders) in names {
                let sorted = holders.sorted()
                allContainers[vni, default: [:]][displayNames[vni]?[key] ?? key.description] = sorted
                networks[vni]?.containers[key] = sorted[0]
                if sorted.count > 1 {
                    conflicts.append(Conflict(network: vni, name: displayNames[vni]?[key] ?? key.description,
                                              winner: sorted[0], losers: Array(sorted.dropFirst())))
                }
            }
        }
        for (vni, names) in aliases {
            for (key, holders) in names { networks[vni]?.aliases[key] = holders.sorted() }
        }
        conflicts.sort { ($0.network, $0.name) < ($1.network, $1.name) }
    }

    /// The table as the control API lists it: by network, then name, then holder order.
    func views() -> [NameView] {
        var out: [NameView] = []
        for (vni, network) in networks.sorted(by: { $0.key < $1.key }) {
            let label = network.name.isEmpty ? "vni-\(vni.value)" : network.name
            for (name, holders) in (allContainers[vni] ?? [:]).sorted(by: { $0.key < $1.key }) {
                for (i, h) in holders.enumerated() {
                    out.append(NameView(network: label, name: name, kind: "name", addresses: h.addresses.map(\.description),
                                        host: h.owner, answered: i == 0))
                }
            }
            for (alias, holders) in network.aliases.sorted(by: { $0.key.description < $1.key.description }) {
                for h in holders {
                    out.append(NameView(network: label, name: alias.description, kind: "alias", addresses: h.addresses.map(\.description),
                                        host: h.owner, answered: true))
                }
            }
        }
        return out
    }

    /// A row's name as a lowercased DNS name, or nil when it makes none.
    static func key(_ text: String) -> DNSName? {
        (try? DNSName(text))?.lowercased
    }

    /// The network a query from `source` belongs to: the one whose subnet holds it, else the
    /// one with an endpoint at that address; nil for a source on no overlay network (a
    /// query from the host itself).
    func network(of source: IPAddress) -> VNI? {
        let bySubnet = networks.filter { $0.value.subnet?.contains(source) == true }.map(\.key)
        if let vni = bySubnet.min() { return vni }
        return networks.filter { $0.value.members.contains(source) }.map(\.key).min()
    }

    /// The endpoints `name` stands for, seen from `source`'s network: `NAME` or
    /// `NAME.NETWORK`, a container's name first (its one holder), else an alias (all its
    /// holders). Nil when the overlay does not hold the name for that network; names of
    /// other networks are not seen.
    func lookup(_ name: DNSName, from source: IPAddress) -> [Holder]? {
        guard let vni = network(of: source), let network = networks[vni] else { return nil }
        let key = name.lowercased
        if let found = network.holders(key) { return found }
        if let suffix = Self.key(network.name), key.labels.count > suffix.labels.count,
           Array(key.labels.suffix(suffix.labels.count)) == suffix.labels,
           let short = try? DNSName(labels: Array(key.labels.dropLast(suffix.labels.count))) {
            return network.holders(short)
        }
        return nil
    }
}
