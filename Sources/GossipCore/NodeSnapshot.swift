/// What a restarted node needs from its last run, taken with `GossipInstance.snapshot(limit:)`
/// and handed back to `GossipInstance.init(resuming:…)`. The shell keeps it across the restart:
/// the runtime as a text file (`Sources/Gossip/Snapshot.swift`), the simulator in memory.
/// The replicated-state version counter is in it too, under the same "resume above the last
/// value used" rule.
public struct NodeSnapshot: Sendable, Hashable {
    public struct KnownMember: Sendable, Hashable {
        public var name: String
        public var address: Address

        public init(name: String, address: Address) {
            self.name = name
            self.address = address
        }
    }

    /// The join a resumed node starts by itself on `.start`; the shell sees its
    /// `Output.joinCompleted` under this id.
    public static let rejoinID = JoinID(raw: 0)

    /// The highest incarnation the node used.
    public var incarnation: UInt64
    /// Set after a graceful leave: the node said goodbye and does not rejoin by itself.
    public var left: Bool
    /// Members to rejoin through: live ones first, then failed ones (they may come back),
    /// never those that left, never the node itself.
    public var members: [KnownMember]
    /// The event and query clocks: a resumed node starts both here, and treats every user
    /// event and query stamped below as already delivered (Serf restores its clocks the same way).
    public var eventClock: UInt64
    public var queryClock: UInt64
    /// The highest version this node gave one of its replicated-state rows: a resumed node
    /// versions its rows above it, so that they win over every row of its previous life. One
    /// at or past `Limits.maxIncarnation` is refused like the incarnation (the node starts at 0).
    public var stateVersion: UInt64

    public init(
        incarnation: UInt64 = 0, left: Bool = false, members: [KnownMember] = [], eventClock: UInt64 = 0,
        queryClock: UInt64 = 0, stateVersion: UInt64 = 0
    ) {
        self.incarnation = incarnation
        self.left = left
        self.members = members
        self.eventClock = eventClock
        self.queryClock = queryClock
        self.stateVersion = stateVersion
    }

    /// The incarnation a node resuming from this snapshot starts at: one above the recorded
    /// one, so that it outranks whatever the cluster last heard of its name without a
    /// refutation round. Nil when the recorded one is at or past `Limits.maxIncarnation`: such
    /// a value is outside input (a snapshot file) and refused, not wrapped.
    public var resumedIncarnation: UInt64? {
        incarnation < Limits.maxIncarnation ? incarnation + 1 : nil
    }
}

extension GossipInstance {
    /// What a restart needs: this node's incarnation, whether it left, and up to `limit`
    /// members to rejoin through (none after a graceful leave).
    public func snapshot(limit: Int = .max) -> NodeSnapshot {
        var s = NodeSnapshot(
            incarnation: incarnation, left: departure.isLeaving, eventClock: events.clock.next, queryClock: queries.clock.next,
            stateVersion: state.version)
        if departure.isLeaving { return s }
        let members = table.members
        let ordered = members.lazy.filter { $0.status <= .suspect } + members.lazy.filter { $0.status == .failed }
        for m in ordered where m.name != name && s.members.count < limit {
            s.members.append(NodeSnapshot.KnownMember(name: m.name, address: m.address))
        }
        return s
    }

    /// A node resuming from `snapshot`: at `snapshot.resumedIncarnation`, and rejoining through
    /// the members it knew when `.start` arrives (join `NodeSnapshot.rejoinID`), unless it left.
    /// A recorded incarnation at the ceiling is refused: the node starts at 0, counts the
    /// refusal and reports it on start, and refutes whatever the cluster says.
    public init(
        resuming snapshot: NodeSnapshot, name: String, address: Address, tags: Tags = Tags(), settings: Settings, seed: UInt64
    ) throws(SettingsError) {
        try self.init(
            name: name, address: address, tags: tags, settings: settings, seed: seed,
            incarnation: snapshot.resumedIncarnation ?? 0)
        if snapshot.resumedIncarnation == nil { counters.refusals[.incarnationOutOfRange] += 1 }
        events = UserEvents(window: settings.eventWindow, keep: settings.eventsInPushPull, clock: snapshot.eventClock)
        queries = Queries(window: settings.eventWindow, maxOpen: settings.broadcastCaps.query, clock: snapshot.queryClock)
        if snapshot.stateVersion < Limits.maxIncarnation {
            state = ReplicatedState(version: snapshot.stateVersion)
        } else {
            counters.refusals[.incarnationOutOfRange] += 1
        }
        resume = Resume(
            refusedIncarnation: snapshot.resumedIncarnation == nil,
            seeds: snapshot.left
                ? [] : snapshot.members.filter { $0.name != name && $0.address != address }.map(\.address))
    }

    /// What `.start` does for a resumed node.
    struct Resume: Sendable {
        var refusedIncarnation: Bool
        var seeds: [Address]
    }

    /// Reports a refused snapshot incarnation and rejoins the snapshot's members.
    mutating func resumeOnStart() {
        guard let r = resume else { return }
        resume = nil
        if r.refusedIncarnation { outbox.append(.refused(.incarnationOutOfRange, from: address)) }
        // Events fired while this node was down are delivered; those it had are below the floor.
        if !r.seeds.isEmpty { join(r.seeds, id: NodeSnapshot.rejoinID, replayEvents: true) }
    }
}
