import GossipCore

/// What a node remembers across restarts: whom it knew, its last incarnation, its clocks and
/// the last version it gave one of its replicated-state rows.
///
/// A text file of lines (`grapevine-snapshot 1`, `incarnation N`, `left 0|1`, `event-clock N`,
/// `query-clock N`, `state-version N`, then `member ADDRESS NAME`), so that an operator can
/// read and repair it. A file without `state-version` (written before it existed) reads as 0. Written atomically
/// (temporary file, fsync, rename), so a crash leaves the old or the new file, never half.
struct Snapshot: Equatable, Sendable {
    /// Reading stops here: a corrupt or hostile file cannot make the node allocate without bound.
    static let maxFileSize = 1 << 20
    static let magic = "grapevine-snapshot 1"

    var incarnation: UInt64 = 0
    /// Set after a graceful leave: the node said goodbye and should not rejoin by itself.
    var left = false
    /// The Lamport clocks of user events and queries: a restarted node delivers nothing below them again.
    var eventClock: UInt64 = 0
    var queryClock: UInt64 = 0
    /// `NodeSnapshot.stateVersion`: a restarted node versions its rows above it, so they win.
    var stateVersion: UInt64 = 0
    var members: [(name: String, address: Address)] = []

    static func == (a: Snapshot, b: Snapshot) -> Bool {
        a.incarnation == b.incarnation && a.left == b.left && a.eventClock == b.eventClock
            && a.queryClock == b.queryClock && a.stateVersion == b.stateVersion && a.members.count == b.members.count
            && zip(a.members, b.members).allSatisfy { $0.name == $1.name && $0.address == $1.address }
    }

    /// The core's snapshot in the file's terms; names that would break the line format are
    /// skipped (the core admits none, but the file is read back by other versions).
    init(_ core: NodeSnapshot) {
        incarnation = core.incarnation
        left = core.left
        eventClock = core.eventClock
        queryClock = core.queryClock
        stateVersion = core.stateVersion
        for m in core.members where Limits.isValidName(m.name) { members.append((m.name, m.address)) }
    }

    /// The file's content as the core resumes from it.
    var core: NodeSnapshot {
        NodeSnapshot(
            incarnation: incarnation, left: left,
            members: members.map { NodeSnapshot.KnownMember(name: $0.name, address: $0.address) }, eventClock: eventClock,
            queryClock: queryClock, stateVersion: stateVersion)
    }

    init() {}

    var text: String {
        var out = "\(Self.magic)\nincarnation \(incarnation)\nleft \(left ? 1 : 0)\n"
        out += "event-clock \(eventClock)\nquery-clock \(queryClock)\nstate-version \(stateVersion)\n"
        for m in members { out += "member \(m.address) \(m.name)\n" }
        return out
    }

    /// Parses a snapshot; unknown or malformed lines are skipped, so an old reader survives a
    /// newer file and a damaged line costs one member, not the whole file.
    init?(parsing text: String) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)[...]
        guard lines.first == Substring(Self.magic) else { return nil }
        lines = lines.dropFirst()
        for line in lines {
            if line.hasPrefix("incarnation "), let n = UInt64(line.dropFirst("incarnation ".count)) {
                incarnation = n
            } else if line.hasPrefix("event-clock "), let n = UInt64(line.dropFirst("event-clock ".count)),
                LamportClock.admits(n)
            {
                eventClock = n
            } else if line.hasPrefix("query-clock "), let n = UInt64(line.dropFirst("query-clock ".count)),
                LamportClock.admits(n)
            {
                queryClock = n
            } else if line.hasPrefix("state-version "), let n = UInt64(line.dropFirst("state-version ".count)) {
                // At or past the ceiling it is the core's to refuse (and count), as the incarnation.
                stateVersion = n
            } else if line.hasPrefix("left ") {
                left = line.dropFirst("left ".count) == "1"
            } else if line.hasPrefix("member ") {
                let rest = line.dropFirst("member ".count)
                guard let space = rest.firstIndex(of: " "),
                    let address = Address(parsing: rest[..<space])
                else { continue }
                let name = String(rest[rest.index(after: space)...])
                if !Limits.isValidName(name) { continue }
                members.append((name, address))
            }
        }
    }

    /// Nil when there is no file; throws when there is one that cannot be read.
    static func load(from path: String) throws(StoredFileError) -> Snapshot? {
        guard let bytes = try StoredFile.contents(of: path, limit: maxFileSize) else { return nil }
        guard let snapshot = Snapshot(parsing: String(decoding: bytes, as: UTF8.self)) else {
            throw StoredFileError(path: path, operation: "parse", errno: 0, detail: "not a snapshot")
        }
        return snapshot
    }

    func save(to path: String) throws(StoredFileError) {
        try StoredFile.replace(path, with: Array(text.utf8))
    }
}
