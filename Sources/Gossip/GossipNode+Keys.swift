public import GossipWire

/// The keyring of one running node. Rotation over a cluster (as `serf keys` does it): install
/// the new key on every member, then `useKey` it on every member, then remove the old key from
/// every member; each step must have reached every member before the next begins, since a
/// member seals with its primary and its peers open only with what they hold.
///
/// Each call takes effect on the node's event loop between two packets: the next datagram or
/// stream frame is sealed with the primary it set, and every installed key opens. Each works in
/// every lifecycle state (before `start` it changes the keyring the node starts with), is
/// counted in `statistics().keyOperations` and `gossip_key_operations_total{operation,
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

    private func apply(_ request: KeyRequest) async throws(GossipError) -> [SecretKey] {
        try await onLoop { runtime, reply in reply(runtime.applyKeyRequest(request)) }.get()
    }
}
