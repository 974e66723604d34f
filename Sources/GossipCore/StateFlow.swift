/// Replicated state through the router: this node's writes versioned and pushed eagerly,
/// rows from the network applied when newer and pushed on once, owners' rows withdrawn as
/// membership changes, tombstones collected, and the push/pull sections.
///
/// Anti-entropy costs what differs: a request carries the requester's digest (one hash of the
/// live rows per owner); the reply carries the responder's digest and every row of each owner
/// whose hash differs. The requester, once it has merged the reply, knows which owners the
/// responder lacks or holds stale, and sends their rows in a follow-up conversation that
/// carries only rows and is answered with an empty reply. The price: one more connection, only
/// when the responder lacks something, instead of every exchange carrying every row. Owners
/// are the unit: a differing owner's rows go whole (`Settings.stateRowsPerOwner` at most).
extension GossipInstance {
    /// Time between tombstone collections: an eighth of the age, so none outlives it by much.
    var stateCollectInterval: Duration { min(settings.stateTombstoneAge / 8, Settings.maxInterval) }

    mutating func writeRow(table: String, key: String, value: [UInt8]) {
        do throws(RequestError) { try settings.check(row: table, key: key, value: value) } catch {
            return refuse(.writeRow, error)
        }
        if let e = state.admits(
            table: table, key: key, owner: name, rowsPerOwner: settings.stateRowsPerOwner, tables: settings.stateTables)
        {
            return refuse(.writeRow, e)
        }
        guard let v = state.nextVersion() else { return refuse(.writeRow, .clockExhausted) }
        publish(StateRow(table: table, owner: name, key: key, version: v, value: value))
    }

    mutating func deleteRow(table: String, key: String) {
        guard Limits.isValidName(table) else { return refuse(.deleteRow, .invalidName(table)) }
        guard Limits.isValidStateKey(key) else { return refuse(.deleteRow, .invalidKey(key, limit: settings.stateKeySizeLimit)) }
        guard let held = state.row(table: table, owner: name, key: key), !held.deleted else { return }
        guard let v = state.nextVersion() else { return refuse(.deleteRow, .clockExhausted) }
        publish(StateRow(table: table, owner: name, key: key, version: v, deleted: true, value: []))
    }

    /// Applies one of this node's own rows and sends it out at once.
    mutating func publish(_ row: StateRow) {
        guard apply(row, from: address) else { return }
        counters.stateRowsWritten += 1
        announceLater(row.owner)
        pushAlongTrees(
            .stateRow(row), owner: row.owner, ownerPosition: nil, key: .state(table: row.table, owner: row.owner, key: row.key),
            except: nil)
    }

    /// A row from the network (datagram or push/pull). Rows from push/pull are not pushed on.
    /// Rows of an owner this node does not know, or knows to have left, are dropped: a departed
    /// owner's rows must not come back from a replica that has not yet heard of the departure.
    /// `message`, the datagram's message that carried `r`, is pushed on as it came: its boxed
    /// row is shared with the sender's copy instead of boxed again.
    ///
    /// `forwardRepaired`: a row that an exchange brought (a repair, push/pull, a follow-up, a
    /// returning owner's sync) and that is new here goes to this node's tree children too. The
    /// trees missed it here, so they likely missed it below: a replica whose tree parent lost a
    /// row and repaired it would otherwise wait for its own gap or announcement, and one whose
    /// gap was closed by an exchange with that parent, as behind as itself, for push/pull (the
    /// 1,000-host load's last rows, 138 s). After a heal the other side's rows travel the trees
    /// from the first member that syncs, instead of an exchange per member. Bounded by the tree
    /// deferral; nothing falls back on gossip.
    mutating func receive(_ r: StateRow, from sender: Address, pushOn: Bool, as message: Message? = nil, forwardRepaired: Bool = false) {
        if r.owner == name { return ownRowSeen(r) }
        guard let i = table.position(of: r.owner), table.status(at: i) != .left else {
            return counters.stateRowsOfUnknownOwners += 1
        }
        var newestBefore: UInt64 = 0
        guard apply(r, from: sender, newestBefore: &newestBefore) else { return }
        counters.stateRowsApplied += 1
        if table.status(at: i) == .failed, state.setAvailable(r.owner, false) {
            outbox.append(.rowChanged(RowChange(kind: .ownerUnavailable, owner: r.owner, row: nil)))
        }
        // A row repaired by push/pull is announced too: the lazy children of a member that got
        // an owner's burst late (by repair) hear of it.
        announceLater(r.owner)
        if pushOn {
            // Rows from push/pull are the repair itself: gaps follow the trees' copies alone.
            noteVersion(r.version, of: r.owner, newestBefore: newestBefore, from: sender)
            pushAlongTrees(
                message ?? .stateRow(r), owner: r.owner, ownerPosition: i, key: .state(table: r.table, owner: r.owner, key: r.key),
                except: sender)
        } else if forwardRepaired {
            counters.stateRowsForwarded += 1
            pushAlongTrees(
                .stateRow(r), owner: r.owner, ownerPosition: i, key: .state(table: r.table, owner: r.owner, key: r.key),
                except: sender, gossipPastBudget: false)
        }
    }

    /// Stores `r` and reports the change; false when it was not new.
    mutating func apply(_ r: StateRow, from sender: Address) -> Bool {
        var newestBefore: UInt64 = 0
        return apply(r, from: sender, newestBefore: &newestBefore)
    }

    /// The same, setting `newestBefore` to the newest version held of `r`'s owner before it.
    mutating func apply(_ r: StateRow, from sender: Address, newestBefore: inout UInt64) -> Bool {
        let outcome = state.apply(
            r, now: now, rowsPerOwner: settings.stateRowsPerOwner, tables: settings.stateTables, newestBefore: &newestBefore)
        switch outcome {
        case .duplicate:
            counters.stateRowDuplicates += 1
            return false
        case .tooManyRows, .tooManyTables:
            refuse(.tooLarge, from: sender)
            return false
        case .stored(let kind):
            if let kind { outbox.append(.rowChanged(RowChange(kind: kind, owner: r.owner, row: r))) }
            return true
        }
    }

    /// One of this node's own rows, as another replica holds it. Newer than what this node
    /// holds, it is from a previous life (a restart, or a lost snapshot): this node's current
    /// word is written again above it, the row's value if it holds one live, else a tombstone,
    /// so that no stale row of its previous life survives anywhere. A row this node does not
    /// hold at all, seen within `Settings.stateRestoreGrace` of its start, is left until the
    /// grace ends (`withdrawStaleOwnRows`): its application is likely writing it again.
    mutating func ownRowSeen(_ r: StateRow) {
        state.witness(ownVersion: r.version)
        let held = state.row(table: r.table, owner: name, key: r.key)
        if let held, held.version >= r.version { return counters.stateRowDuplicates += 1 }
        if r.deleted, held?.deleted ?? true { return }
        if held == nil, let until = state.restoreUntil, now < until {
            let id = ReplicatedState.RowID(table: r.table, key: r.key)
            if state.staleOwn.isEmpty { armReplacing(.state(.restore), at: until) }
            state.staleOwn.insert(id)
            return
        }
        guard let v = state.nextVersion() else { return }
        if let held, !held.deleted {
            publish(StateRow(table: r.table, owner: name, key: r.key, version: v, value: held.value))
        } else {
            publish(StateRow(table: r.table, owner: name, key: r.key, version: v, deleted: true, value: []))
        }
    }

    /// The restore grace ended: the rows of a previous life that this node's application did
    /// not write again are withdrawn everywhere (a row written, or deleted, meanwhile is held
    /// and left as it is).
    mutating func withdrawStaleOwnRows() {
        // In key order: the simulator replays a run exactly, whatever the hash seed.
        let stale = state.staleOwn.map { ($0.table, $0.key.text) }.sorted { $0 < $1 }
        state.staleOwn = []
        state.restoreUntil = nil
        for (table, key) in stale where state.row(table: table, owner: name, key: key) == nil {
            guard let v = state.nextVersion() else { return }
            publish(StateRow(table: table, owner: name, key: key, version: v, deleted: true, value: []))
        }
    }

    /// The membership hook's share: a failed owner's rows are unavailable until it is alive
    /// again; a departed or reaped owner's rows are removed.
    mutating func stateOwnerChanged(_ kind: MembershipEvent.Kind, _ owner: String) {
        guard owner != name else { return }
        switch kind {
        case .failed:
            if state.setAvailable(owner, false) {
                outbox.append(.rowChanged(RowChange(kind: .ownerUnavailable, owner: owner, row: nil)))
            }
        case .joined, .updated, .recovered:
            if state.setAvailable(owner, true) {
                outbox.append(.rowChanged(RowChange(kind: .ownerAvailable, owner: owner, row: nil)))
                syncWithReturning(owner)
            }
        case .left, .reaped:
            for r in state.removeOwner(owner) { outbox.append(.rowChanged(RowChange(kind: .removed, owner: owner, row: r))) }
        case .suspected:
            break
        }
    }

    /// An owner back from failed (a healed partition, a link that came back) has likely written
    /// rows this side missed, and lacks this side's: one exchange with it now carries both ways
    /// what would otherwise wait for push/pull rounds (90 s apart at 100 members). At most one
    /// per probe interval: after a heal every member sees many owners return, and one exchange
    /// across the cut brings it the other side's rows.
    mutating func syncWithReturning(_ owner: String) {
        if let last = state.lastSync, now - last < settings.probeInterval { return }
        guard let i = table.position(of: owner), table[i].status == .alive else { return }
        state.lastSync = now
        counters.stateSyncsWithReturning += 1
        outbox.append(.stream(to: table[i].address, localState(join: false, reply: false), conversation: newConversation()))
    }

    mutating func collectTombstones() {
        counters.tombstonesCollected += state.collect(now: now, age: settings.stateTombstoneAge)
        armReplacing(.state(.collect), at: now + stateCollectInterval)
    }

    // MARK: views

    /// The live rows this node holds of `owner` (its own included), by table and key.
    public func stateRows(of owner: String) -> [StateRow] { state.liveRows(of: owner) }

    /// The owners this node holds rows of, live or deleted, by name.
    public var stateOwners: [String] { state.owners.keys.sorted() }

    /// False while `owner` is declared failed: its rows are held but should not be acted on.
    public func isOwnerAvailable(_ owner: String) -> Bool { state.isAvailable(owner) }

    /// The row held for `(table, owner, key)`, a tombstone included.
    public func stateRow(table: String, owner: String, key: String) -> StateRow? {
        state.row(table: table, owner: owner, key: key)
    }

    /// The highest version this node gave one of its own rows.
    public var stateVersion: UInt64 { state.version }

    /// This node's digest entry for `owner`: a hash of the live rows it holds of it
    /// (`ReplicatedState.rowHash`, summed), 0 for none. Two replicas holding the same live rows
    /// of an owner give the same value; anti-entropy exchanges these.
    public func stateHash(of owner: String) -> UInt64 { state.owners[owner]?.hash ?? 0 }

    // MARK: push/pull

    /// This node's digest, in sections of at most `PushPull.maxSectionSize`; one at least, so
    /// that a node holding nothing still asks for everything.
    func stateDigestSections() -> [PushPullSection] { Self.stateDigestSections(state.digest()) }

    package static func stateDigestSections(_ digest: [OwnerDigest]) -> [PushPullSection] {
        let chunks = chunked(digest, budget: PushPull.maxSectionSize - 16) { d in
            WireSize.string(d.owner) + WireSize.varint(d.hash) + WireSize.varint(d.newest)
        }
        return chunks.isEmpty ? [.stateDigest([])] : chunks.map { .stateDigest($0) }
    }

    /// `rows` in sections of at most `PushPull.maxSectionSize` (a row larger than that alone).
    package static func stateRowSections(_ rows: [StateRow]) -> [PushPullSection] {
        chunked(rows, budget: PushPull.maxSectionSize - 16) { r in
            var c = SizeCounter()
            c.stateRow(r)
            return c.size
        }.map { .stateRows($0) }
    }

    static func chunked<T>(_ items: [T], budget: Int, size: (T) -> Int) -> [[T]] {
        var chunks: [[T]] = []
        var current: [T] = []
        var used = 0
        for item in items {
            let n = size(item)
            if !current.isEmpty, used + n > budget {
                chunks.append(current)
                current = []
                used = 0
            }
            current.append(item)
            used += n
        }
        if !current.isEmpty { chunks.append(current) }
        return chunks
    }

    /// Gathers a peer's digest sections into its exchange, each owner checked; at most
    /// `Settings.maxMembers` owners are kept.
    mutating func gatherDigest(_ pp: PushPull, into exchange: inout OpenExchanges.Exchange, from sender: Address) {
        for case .stateDigest(let entries) in pp.sections {
            exchange.hasDigest = true
            for d in entries {
                guard Limits.isValidName(d.owner) else {
                    refuse(.invalidName, from: sender)
                    continue
                }
                guard d.newest < Limits.maxIncarnation else {
                    refuse(.incarnationOutOfRange, from: sender)
                    continue
                }
                if exchange.peerDigest.count < settings.maxMembers { exchange.peerDigest[d.owner] = d }
            }
        }
    }

    /// Merges a rows section: each row checked, then applied. With `forward`, a row new here
    /// goes on to this node's children in its owner's trees (`forwardRepaired`).
    mutating func mergeRows(_ rows: [StateRow], from sender: Address, forward: Bool = false) {
        for r in rows {
            if let reason = refusal(for: r) {
                refuse(reason, from: sender)
                continue
            }
            receive(r, from: sender, pushOn: false, forwardRepaired: forward)
        }
    }

    /// After the last frame of a reply: if the responder's digest shows it lacks rows this
    /// node holds, sends them in a follow-up conversation of rows alone.
    mutating func followUp(_ exchange: OpenExchanges.Exchange, to peer: Address) {
        // A join may go to a seed this node cannot reach by the rules every other exchange
        // follows (another address family); what the seed lacks reaches it by gossip instead.
        guard exchange.hasDigest, address.canReach(peer) else { return }
        settleGaps(exchange.peerDigest, peer: peer)
        // A reply without a members section answers a repair request: only its owners count.
        let rows = state.rows(differingFrom: exchange.peerDigest, listedOnly: !exchange.isFullState)
        guard !rows.isEmpty else { return }
        counters.stateFollowUps += 1
        let pp = PushPull(
            join: false, isReply: false, sender: name, senderAddress: address, sections: Self.stateRowSections(rows))
        outbox.append(.stream(to: peer, .pushPull(pp), conversation: newConversation()))
    }
}
