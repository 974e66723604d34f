/// What one event hands its handler scripts: environment variables and standard input, as Serf
/// builds them (serf/cmd/serf/command/agent/invoke.go), under both the `GRAPEVINE_` and the
/// `SERF_` prefix so that existing Serf scripts run unchanged.
struct HandlerInvocation: Sendable {
    var event: HandlerEvent
    /// The user event's or query's name; nil for member events.
    var name: String?
    /// Added to the agent's own environment.
    var environment: [String: String]
    var stdin: [UInt8]

    static let prefixes = ["GRAPEVINE_", "SERF_"]

    /// A member event: one line per member, `name\taddress\trole\tk=v,k=v` (tags sorted by key;
    /// tabs and newlines in fields written as `\t`, `\n`); `address` without the port, as Serf's.
    static func member(_ event: HandlerEvent, members: [MemberView], selfName: String,
                       selfTags: [String: String]) -> Self {
        var stdin: [UInt8] = []
        for member in members {
            let tags = member.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            let line = [clean(member.name), host(of: member.address), clean(member.tags["role"] ?? ""), clean(tags)]
                .joined(separator: "\t")
            stdin += line.utf8
            stdin.append(UInt8(ascii: "\n"))
        }
        return Self(event: event, name: nil, environment: common(event, selfName, selfTags), stdin: stdin)
    }

    /// A user event (`*_USER_EVENT`, `*_USER_LTIME`) or a query (`*_QUERY_NAME`, `*_QUERY_LTIME`);
    /// the payload on standard input.
    static func named(_ event: HandlerEvent, name: String, ltime: UInt64, payload: [UInt8], selfName: String,
                      selfTags: [String: String]) -> Self {
        precondition(event == .user || event == .query, "only user events and queries have names")
        var environment = common(event, selfName, selfTags)
        set(&environment, event == .user ? "USER_EVENT" : "QUERY_NAME", name)
        set(&environment, event == .user ? "USER_LTIME" : "QUERY_LTIME", String(ltime))
        return Self(event: event, name: name, environment: environment, stdin: terminated(payload))
    }

    /// `*_EVENT`, `*_SELF_NAME`, `*_SELF_ROLE` and a `*_TAG_<KEY>` per tag of this member, the key
    /// upper-cased with every character outside `[A-Z0-9_]` made `_`.
    private static func common(_ event: HandlerEvent, _ selfName: String, _ selfTags: [String: String]) -> [String: String] {
        var environment: [String: String] = [:]
        set(&environment, "EVENT", event.rawValue)
        set(&environment, "SELF_NAME", selfName)
        set(&environment, "SELF_ROLE", selfTags["role"] ?? "")
        for (key, value) in selfTags {
            set(&environment, "TAG_" + envName(key), value)
        }
        return environment
    }

    private static func set(_ environment: inout [String: String], _ name: String, _ value: String) {
        // A NUL cannot be passed in an environment variable; names and tags from other members may hold one.
        let value = value.contains("\0") ? value.filter { $0 != "\0" } : value
        for prefix in prefixes { environment[prefix + name] = value }
    }

    static func envName(_ key: String) -> String {
        String(key.uppercased().unicodeScalars.map { scalar -> Character in
            switch scalar {
            case "A"..."Z", "0"..."9", "_": Character(scalar)
            default: "_"
            }
        })
    }

    /// The payload with a newline after it, unless it is empty or has one (Serf's `streamPayload`).
    private static func terminated(_ payload: [UInt8]) -> [UInt8] {
        guard let last = payload.last, last != UInt8(ascii: "\n") else { return payload }
        return payload + [UInt8(ascii: "\n")]
    }

    private static func clean(_ field: String) -> String {
        guard field.contains(where: { $0 == "\t" || $0 == "\n" }) else { return field }
        return field.replacing("\t", with: "\\t").replacing("\n", with: "\\n")
    }

    /// `host:port` or `[v6]:port` without the port.
    static func host(of address: String) -> String {
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<close])
        }
        if let colon = address.lastIndex(of: ":"), address.firstIndex(of: ":") == colon {
            return String(address[..<colon])
        }
        return address
    }
}
