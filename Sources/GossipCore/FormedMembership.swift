/// A whole cluster's membership, every member alive and confirmed, built once and shared by
/// every node created with `GossipInstance.init(formedWith:…)`: the state a cluster reaches
/// after its joins settled, without the N² log N deliveries of getting there. For the
/// simulator's large runs; not public API.
///
/// Sharing is Swift copy-on-write: every node's table points at the same arrays and index
/// until that node changes a member, when it copies the arrays that changed (a suspicion: the
/// statuses and their times; a new incarnation: the identities).
package struct FormedMembership: Sendable {
    /// Every member alive and confirmed, in the order given; each node's table starts as this one.
    let table: MemberTable

    /// - Parameter members: every member once by name (names must be distinct); each is set
    ///   alive, confirmed, with status changed at time zero.
    package init(_ members: [Member]) {
        var all = members
        for i in all.indices {
            all[i].status = .alive
            all[i].statusChangedAt = .zero
        }
        self.table = MemberTable(confirmedMembers: all)
    }

    package var count: Int { table.count }
}

extension GossipInstance {
    /// The node at `index` of a formed cluster: it knows every member alive and confirmed from
    /// the start, and on `.start` probes, gossips and exchanges as a member of a settled cluster.
    ///
    /// Every node of the cluster shares one probe order, each starting its first round at its
    /// own random position, instead of holding its own shuffle: the same cyclic order, offset
    /// per node, until a node's first round ends and it shuffles its own copy (SWIM's
    /// guarantee of one probe per member per round holds; the rounds of different nodes are
    /// correlated, not independent, during the first round).
    ///
    /// - Throws: `SettingsError` as `init(name:…)` for the member's name, incarnation and the settings.
    package init(formedWith membership: FormedMembership, index: Int, settings: Settings, seed: UInt64) throws(SettingsError) {
        let me = membership.table[index]
        try self.init(
            name: me.name, address: me.address, tags: me.tags, settings: settings, seed: seed, incarnation: me.incarnation)
        table = membership.table
        table.startFirstRound(at: rng.index(below: membership.count))
    }
}
