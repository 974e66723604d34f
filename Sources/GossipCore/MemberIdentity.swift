/// What every node says alike about one member at one incarnation: its name, address,
/// incarnation and tags. Immutable and shared: an `Alive`, the `MemberState` of a push/pull and
/// the `Member` entry each node's table keeps for it all point at one box, so a cluster of N
/// nodes that learned a member from one another holds its name and tags once, not N times
/// (the simulator hands the same values from node to node; a runtime shares what it decoded
/// once between the message and its table). Changing a field makes a new box.
final class MemberIdentity: Sendable {
    let name: String
    let address: Address
    let incarnation: UInt64
    let tags: Tags
    /// `Self.hash(name:)`, taken once per box: a table looks a member up by it, a broadcast
    /// queue finds the update about the member by it, and in a simulation one box is looked
    /// up by every node, many times.
    let nameHash: Int

    init(name: String, address: Address, incarnation: UInt64, tags: Tags) {
        self.name = name
        self.address = address
        self.incarnation = incarnation
        self.tags = tags
        self.nameHash = Self.hash(name: name)
    }

    /// The hash of a member's name, as `nameHash` keeps it: also the hash of the broadcast key
    /// `.member(name)` (`BroadcastQueue.keyHash`), so that a queue keys a member's update by
    /// the hash in its identity box instead of hashing the name again.
    static func hash(name: String) -> Int {
        var h = Hasher()
        h.combine(name)
        return h.finalize()
    }

    private init(_ o: MemberIdentity, address: Address, incarnation: UInt64, tags: Tags) {
        self.name = o.name
        self.address = address
        self.incarnation = incarnation
        self.tags = tags
        self.nameHash = o.nameHash
    }

    func with(name: String? = nil, address: Address? = nil, incarnation: UInt64? = nil, tags: Tags? = nil) -> MemberIdentity {
        if let name, name != self.name {
            return MemberIdentity(
                name: name, address: address ?? self.address, incarnation: incarnation ?? self.incarnation,
                tags: tags ?? self.tags)
        }
        return MemberIdentity(
            self, address: address ?? self.address, incarnation: incarnation ?? self.incarnation, tags: tags ?? self.tags)
    }

    func sameValues(as o: MemberIdentity) -> Bool {
        self === o || (incarnation == o.incarnation && address == o.address && name == o.name && tags == o.tags)
    }

    func hash(into h: inout Hasher) {
        h.combine(name)
        h.combine(address)
        h.combine(incarnation)
        h.combine(tags)
    }
}
