import GossipWire
import Logging
import Metrics

/// The keyring at run time. Both codecs hold the keyring by value and the runtime is only
/// touched on its loop, so a change is two assignments between packets: no lock, nothing read
/// per packet besides what the codec read before. The next datagram or frame encoded is sealed
/// with the new primary; every installed key opens.
extension NodeRuntime {
    /// Applies `request` to both codecs' keyring, or to neither, and returns the keys after it,
    /// primary first. Refused: on a node started without a keyring (`noKeyring`: a plaintext
    /// node does not start sealing at run time, since its peers would drop all it sends), and
    /// whatever `Keyring` refuses (`unknownKey`, `cannotRemovePrimary`, `keyringFull`). Each
    /// outcome is counted and logged (`askedBy`: the member whose key query asked). Works in
    /// every phase; before `start` it changes the keyring the node will start with.
    func applyKeyRequest(_ request: KeyRequest, askedBy: String? = nil) -> Result<[SecretKey], GossipError> {
        guard var ring = packetCodec.keyring else { return refuseKeyRequest(request, .noKeyring, askedBy: askedBy) }
        do throws(KeyringError) { try ring.apply(request) } catch {
            // Only requests with a key throw (`list` never does).
            let key = request.key?.fingerprint ?? ring.primary.fingerprint
            return refuseKeyRequest(request, GossipError(error, key: key), askedBy: askedBy)
        }
        countKeyOperation(request.operation, outcome: "applied")
        keyOperations.applied["\(request.operation)", default: 0] += 1
        if ring != packetCodec.keyring {
            let fingerprint = request.key.map { "\($0.fingerprint)" } ?? ""
            packetCodec.keyring = ring
            streamCodec.keyring = ring
            var metadata: Logger.Metadata = [
                "gossip.key": "\(fingerprint)", "gossip.key.primary": "\(ring.primary.fingerprint)",
                "gossip.keys": "\(ring.keys.count)",
            ]
            if let askedBy { metadata["gossip.peer"] = "\(Limits.escaped(askedBy))" }
            logger.info("keyring changed: \(request.operation) key \(fingerprint)", metadata: metadata)
            keyrings?.write(ring)
        }
        return .success(ring.keys)
    }

    private func refuseKeyRequest(
        _ request: KeyRequest, _ error: GossipError, askedBy: String?
    ) -> Result<[SecretKey], GossipError> {
        countKeyRefusal(
            request.operation, reason: Self.keyRefusalLabel(error.code), askedBy: askedBy,
            message: "keyring unchanged: \(error)", key: request.key?.fingerprint)
        return .failure(error)
    }

    /// Counts and logs an operation refused for `reason` (a `KeyOperationCounters` label).
    func countKeyRefusal(
        _ operation: KeyOperation, reason: String, askedBy: String?, message: String, key: KeyFingerprint? = nil
    ) {
        countKeyOperation(operation, outcome: reason)
        keyOperations.refused[reason, default: 0] += 1
        var metadata: Logger.Metadata = ["gossip.key.operation": "\(operation)", "gossip.reason": "\(reason)"]
        if let key { metadata["gossip.key"] = "\(key)" }
        if let askedBy { metadata["gossip.peer"] = "\(Limits.escaped(askedBy))" }
        logger.info("\(message)", metadata: metadata)
    }

    /// Rare, so the counter is made when needed rather than held by `NodeMetrics`.
    private func countKeyOperation(_ operation: KeyOperation, outcome: String) {
        Counter(
            label: "gossip_key_operations_total",
            dimensions: [("node", configuration.name), ("operation", "\(operation)"), ("outcome", outcome)],
            factory: configuration.metricsFactory ?? MetricsSystem.factory
        ).increment()
    }

    static func keyRefusalLabel(_ code: GossipError.Code) -> String {
        switch code {
        case .noKeyring: "no_keyring"
        case .unknownKey: "unknown_key"
        case .cannotRemovePrimary: "cannot_remove_primary"
        case .keyringFull: "keyring_full"
        default: "other"
        }
    }
}
