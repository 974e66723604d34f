import Gossip

/// How replicated state prints: one line per row or owner change, every name, key and value
/// escaped (`Limits.escaped`) since they come from the network.
enum StateLines {
    /// `KIND OWNER TABLE KEY VERSION VALUE`; the value as UTF-8, escaped.
    static func row(_ kind: String, _ r: StateRow) -> String {
        "\(kind) \(Limits.escaped(r.owner)) \(Limits.escaped(r.table)) \(Limits.escaped(r.key)) \(r.version) "
            + Limits.escaped(String(decoding: r.value, as: UTF8.self))
    }

    /// `row-added|row-updated|row-removed OWNER TABLE KEY VERSION VALUE`, or
    /// `owner-unavailable|owner-available OWNER`.
    static func change(_ c: RowChange) -> String {
        switch c.kind {
        case .ownerUnavailable: return "owner-unavailable \(Limits.escaped(c.owner))"
        case .ownerAvailable: return "owner-available \(Limits.escaped(c.owner))"
        case .added, .updated, .removed:
            let kind = c.kind == .added ? "row-added" : c.kind == .updated ? "row-updated" : "row-removed"
            guard let r = c.row else { return "\(kind) \(Limits.escaped(c.owner))" }
            return row(kind, r)
        }
    }

    /// The whole replica: a `row` line per live row by owner, then `owner-unavailable` lines.
    static func snapshot(_ s: StateSnapshot) -> [String] {
        s.rows.keys.sorted().flatMap { s.rows[$0] ?? [] }.map { row("row", $0) }
            + s.unavailableOwners.sorted().map { "owner-unavailable \(Limits.escaped($0))" }
    }
}
