import GossipCore
public import GossipWire

/// What one key operation did across the cluster, from the members' answers: the report
/// `serf keys` prints (Serf's `KeyResponse`: messages by node, counts, key and primary-key
/// counts), with the members that did not answer named rather than counted.
public struct KeyReport: Sendable, Equatable, CustomStringConvertible {
    public var operation: KeyOperation
    /// Members asked: those expected to answer.
    public var asked: Int
    /// Members that applied the operation (or found it in effect already), sorted.
    public var applied: [String]
    /// Members that answered that they could not apply it, with their reason, escaped for
    /// printing (`Limits.escaped`).
    public var failed: [String: String]
    /// Members asked that did not answer, sorted.
    public var missing: [String]
    /// For each key, how many answering members hold it (their keys after the operation).
    public var keys: [KeyFingerprint: Int]
    /// For each key, how many answering members seal with it.
    public var primaries: [KeyFingerprint: Int]
    /// Members whose key list was cut to fit one response: `keys` undercounts what they hold.
    public var truncated: [String]

    /// Every member asked applied the operation.
    public var isComplete: Bool { failed.isEmpty && missing.isEmpty }

    /// Lines for a terminal: the counts, then each failure, each missing member, each key.
    public var description: String {
        var lines = [
            "\(operation): \(applied.count) of \(asked) members applied it, \(failed.count) failed, \(missing.count) did not answer"
        ]
        for (name, message) in failed.sorted(by: { $0.key < $1.key }) {
            lines.append("failed \(Limits.escaped(name)): \(message)")
        }
        for name in missing { lines.append("no answer \(Limits.escaped(name))") }
        for (key, holders) in keys.sorted(by: { $0.key < $1.key }) {
            lines.append("key \(key): held by \(holders), primary on \(primaries[key] ?? 0)")
        }
        if !truncated.isEmpty {
            lines.append("key lists cut short: " + truncated.map(Limits.escaped).joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }
}

/// Collects the answers to one key operation into a `KeyReport`. A plain value: feed it the
/// answers as they arrive, read `report` at any time (at the deadline, members still silent
/// are `missing`).
struct KeyReportBuilder: Sendable {
    private let operation: KeyOperation
    private let expected: Set<String>
    private var answered: Set<String> = []
    private var applied: [String] = []
    private var failed: [String: String] = [:]
    private var keys: [KeyFingerprint: Int] = [:]
    private var primaries: [KeyFingerprint: Int] = [:]
    private var truncated: [String] = []

    /// `expected`: the members asked (duplicates count once).
    init(operation: KeyOperation, expected: some Sequence<String>) {
        self.operation = operation
        self.expected = Set(expected)
    }

    /// Adds `member`'s answer. A member answers once: a second answer from it is ignored and
    /// false returned. Answers from members not expected (one that joined meanwhile) count as
    /// any other.
    @discardableResult
    mutating func add(_ response: KeyResponse, from member: String) -> Bool {
        guard answered.insert(member).inserted else { return false }
        if response.ok {
            applied.append(member)
        } else {
            failed[member] = Limits.escaped(response.message)
        }
        // A member listing a key twice holds it once.
        for key in Set(response.keys) { keys[key, default: 0] += 1 }
        if let primary = response.primary { primaries[primary, default: 0] += 1 }
        if response.truncated { truncated.append(member) }
        return true
    }

    /// Adds an answer from `member` that did not decode: it counts as failed, with the reason.
    @discardableResult
    mutating func addUndecodable(from member: String, _ error: WireError) -> Bool {
        guard answered.insert(member).inserted else { return false }
        failed[member] = "undecodable answer (\(error.reason.rawValue))"
        return true
    }

    var report: KeyReport {
        KeyReport(
            operation: operation, asked: expected.count, applied: applied.sorted(), failed: failed,
            missing: expected.subtracting(answered).sorted(), keys: keys, primaries: primaries,
            truncated: truncated.sorted())
    }
}
