/// The `GET /v1/members` filter, as Serf's RPC `members-filtered`: each pattern is a regular
/// expression that must match the whole value (`web` does not match `web-2`; `web.*` does).
/// A member passes when its status, its name and every filtered tag match; a member without
/// a filtered tag does not pass.
struct MemberFilter {
    private var status: Regex<AnyRegexOutput>?
    private var name: Regex<AnyRegexOutput>?
    private var tags: [(key: String, pattern: Regex<AnyRegexOutput>)] = []

    /// `tags` are `key=pattern` strings. A pattern that does not compile, or a tag without `=`,
    /// is `bad_filter` (400).
    init(status: String?, name: String?, tags: [String]) throws(AgentError) {
        self.status = try status.map { pattern throws(AgentError) in try Self.compile(pattern, field: "status") }
        self.name = try name.map { pattern throws(AgentError) in try Self.compile(pattern, field: "name") }
        for tag in tags {
            guard let equals = tag.firstIndex(of: "="), equals != tag.startIndex else {
                throw .badRequest("bad_filter", "tag filter '\(tag)' is not KEY=REGEX")
            }
            let key = String(tag[..<equals])
            self.tags.append((key, try Self.compile(String(tag[tag.index(after: equals)...]), field: "tag \(key)")))
        }
    }

    func admits(_ member: MemberView) -> Bool {
        if let status, (try? status.wholeMatch(in: member.status)) == nil { return false }
        if let name, (try? name.wholeMatch(in: member.name)) == nil { return false }
        for (key, pattern) in tags {
            guard let value = member.tags[key], (try? pattern.wholeMatch(in: value)) != nil else { return false }
        }
        return true
    }

    private static func compile(_ pattern: String, field: String) throws(AgentError) -> Regex<AnyRegexOutput> {
        do {
            return try Regex(pattern)
        } catch {
            throw .badRequest("bad_filter", "\(field) filter '\(pattern)' is not a regular expression: \(error)")
        }
    }
}
