public import GossipWire
import NIOCore

/// The keyring of one running node, and of every live member (`…Everywhere`). Rotation over a
/// cluster (as `serf keys` does it): install the new key on every member, then use it on every
/// member, then remove the old key from every member; each step must have reached every member
/// before the next begins (the report `isComplete`), since a member seals with its primary and
/// its peers open only with what they hold.
///
/// Each change takes effect on the node's event loop between two packets: the next datagram or
/// stream frame is sealed with the primary it set, and every installed key opens. The calls on
/// this node alone work in every lifecycle state (before `start` they change the keyring the
/// node starts with; the `…Everywhere` ones need a running node). Each change is counted in `statistics().keyOperations` and `gossip_key_operations_total{operation,
/// outcome}`, and logged at info. A refused call changes nothing.
///
/// A node started without a keyring runs in plaintext for good: every call throws `noKeyring`.
/// Switching a member to sealing at run time would cut it off from its plaintext peers, and
/// sealed members drop plaintext (`not_sealed`); restart the cluster with a keyring instead.
///
/// The keyring is not written anywhere: a restarted node starts with
/// `GossipConfiguration.keyring` again, so store what `keys()` returns where your
/// configuration comes from. `configuration.keyring` keeps the keys the node started with (and
/// so keeps their bytes in memory until the node is released).
extension GossipNode {
    /// Adds `key` to this node's keyring, decrypt-only: packets and frames sealed with it open
    /// here from now on. Installing a key held already changes nothing. Throws `keyringFull`
    /// (`Keyring.maxKeys` keys held), `noKeyring`.
    public func installKey(_ key: SecretKey) async throws(GossipError) {
        _ = try await apply(.install(key))
    }

    /// Makes an installed key the primary: every datagram and frame sent from now on is sealed
    /// with it; the former primary stays, decrypt-only. Using the primary changes nothing.
    /// Throws `unknownKey` (install it first), `noKeyring`.
    public func useKey(_ key: SecretKey) async throws(GossipError) {
        _ = try await apply(.use(key))
    }

    /// Removes a decrypt-only key: packets sealed with it no longer open here (they are counted
    /// as `unauthenticated`). Its bytes are wiped once no keyring or caller holds it. Throws
    /// `cannotRemovePrimary` (use another key first), `unknownKey`, `noKeyring`.
    public func removeKey(_ key: SecretKey) async throws(GossipError) {
        _ = try await apply(.remove(key))
    }

    /// This node's keys, primary first: `Keyring(primary: keys[0], others: keys.dropFirst())`
    /// rebuilds the keyring. Throws `noKeyring`.
    public func keys() async throws(GossipError) -> [SecretKey] {
        try await apply(.list)
    }

    // MARK: every member

    /// Installs `key` on every live member (this one included): one internal query, answered
    /// by each member's runtime (`_grapevine-key-install`). Returns the report once every member
    /// asked has answered, or at the query's timeout (nil: Serf's default,
    /// `gossipInterval × queryTimeoutMultiplier × ceil(log10(N + 1))`).
    ///
    /// The report says which members applied it, which refused (with their reason: a full or
    /// plaintext keyring) and which did not answer; go on to `useKeyEverywhere` only once
    /// `isComplete`. The key travels inside the query, sealed under this node's primary key: see
    /// SECURITY.md, "Rotating keys", before rotating away from a leaked key this way.
    ///
    /// Throws `noKeyring` on a plaintext node, `invalidRequest` for a timeout out of range
    /// (`Settings.maxQueryTimeout`) or too many open queries, `notRunning` unless the node runs.
    public func installKeyEverywhere(_ key: SecretKey, timeout: Duration? = nil) async throws(GossipError) -> KeyReport {
        try await everywhere(.install(key), timeout: timeout)
    }

    /// Makes `key` the primary on every live member (`_grapevine-key-use`); as
    /// `installKeyEverywhere`. A member that does not hold it refuses (`unknownKey`): install
    /// it everywhere first. `primaries` in the report counts the members sealing with each key.
    public func useKeyEverywhere(_ key: SecretKey, timeout: Duration? = nil) async throws(GossipError) -> KeyReport {
        try await everywhere(.use(key), timeout: timeout)
    }

    /// Removes `key` from every live member (`_grapevine-key-remove`); as
    /// `installKeyEverywhere`. A member still sealing with it refuses (`cannotRemovePrimary`), so
    /// a rotation cannot cut off a member that missed the `use` step.
    public func removeKeyEverywhere(_ key: SecretKey, timeout: Duration? = nil) async throws(GossipError) -> KeyReport {
        try await everywhere(.remove(key), timeout: timeout)
    }

    /// Every live member's keys (`_grapevine-key-list`): `keys` and `primaries` in the report
    /// count, for each key by fingerprint, the members that hold it and that seal with it.
    public func keysEverywhere(timeout: Duration? = nil) async throws(GossipError) -> KeyReport {
        try await everywhere(.list, timeout: timeout)
    }

    /// Each answer to a key query also travels through this many members (the most a query may
    /// ask), so that a lost datagram does not make a member that applied the step look silent
    /// in the report: at 5 % loss an answer is then lost with probability
    /// 0.05 × (1 − 0.95²)⁵ ≈ 4e-7. Key steps are rare; the extra datagrams do not matter.
    static let keyQueryRelays = QueryRequest.maxRelayFactor

    private func everywhere(_ request: KeyRequest, timeout: Duration?) async throws(GossipError) -> KeyReport {
        let sealed = await onLoop { runtime, reply in reply(runtime.packetCodec.keyring != nil) }
        if !sealed { throw .noKeyring }
        var payload = ByteBuffer()
        request.encode(into: &payload)
        let asked = members.filter { $0.status == .alive || $0.status == .suspect }.map(\.name)
        let answers = try await ask(
            QueryRequest(
                name: KeyQueries.name(request.operation), payload: Array(payload.readableBytesView), timeout: timeout,
                wantsAcks: false, relayFactor: Self.keyQueryRelays))
        var report = KeyReportBuilder(operation: request.operation, expected: asked)
        for await update in answers {
            guard case .response(let from, let bytes) = update else { continue }
            var b = ByteBuffer(bytes: bytes)
            do throws(WireError) {
                report.add(try KeyResponse.decode(&b), from: from)
            } catch {
                report.addUndecodable(from: from, error)
            }
        }
        return report.report
    }

    private func apply(_ request: KeyRequest) async throws(GossipError) -> [SecretKey] {
        try await onLoop { runtime, reply in reply(runtime.applyKeyRequest(request)) }.get()
    }
}
