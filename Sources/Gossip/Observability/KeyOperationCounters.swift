/// What became of the keyring operations asked of one node, by its caller (`installKey`,
/// `useKey`, `removeKey`, `keys`) or by a member's key query (`installKeyEverywhere`...). The strings are the labels of `gossip_key_operations_total{operation,
/// outcome}`: `outcome` is `applied` or the refusal reason.
public struct KeyOperationCounters: Sendable, Equatable, CustomStringConvertible {
    /// Operations carried out, by operation: `install`, `use`, `remove`, `list`. Installing a
    /// key held already, or using the primary, counts too: the keyring is as asked.
    public var applied: [String: Int] = [:]
    /// Operations refused (the keyring unchanged), by reason: `no_keyring`, `unknown_key`,
    /// `cannot_remove_primary`, `keyring_full`, and `malformed_request` for a key query whose
    /// request did not decode or named another operation.
    public var refused: [String: Int] = [:]

    public init() {}

    public var description: String {
        func byLabel(_ d: [String: Int]) -> String {
            "{" + d.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "}"
        }
        return "applied=\(byLabel(applied)) refused=\(byLabel(refused))"
    }
}
