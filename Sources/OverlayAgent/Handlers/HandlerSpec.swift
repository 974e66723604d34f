/// An event type a handler can be bound to, named as Serf names it (`SERF_EVENT`).
public enum HandlerEvent: String, Sendable, Hashable, CaseIterable {
    case memberJoin = "member-join"
    case memberLeave = "member-leave"
    case memberFailed = "member-failed"
    case memberUpdate = "member-update"
    case memberReap = "member-reap"
    case user
    case query
}

/// One event handler from the configuration, in Serf's syntax (`-event-handler`,
/// serf/cmd/serf/command/agent/event_handler.go): `script` (every event), `TYPE=script`,
/// `t1,t2=script`, `user:NAME=script`, `query:NAME=script`, `*=script`.
///
/// The first `=` ends the filter, so a script that itself holds `=` needs a filter in front
/// (`*=env FOO=1 ./handler.sh`), as in Serf.
public struct HandlerSpec: Sendable, Hashable, CustomStringConvertible {
    /// One filter of the list before `=`.
    public enum Filter: Sendable, Hashable {
        /// `*`: every event.
        case any
        /// A member event type, or `user` / `query` with no name (every user event or query).
        case event(HandlerEvent)
        /// `user:NAME`: user events of this name.
        case user(String)
        /// `query:NAME`: queries of this name.
        case query(String)
    }

    /// At least one; the handler runs when any matches.
    public var filters: [Filter]
    /// Run as `/bin/sh -c script`.
    public var script: String

    /// Parses one handler.
    /// - Throws: `HandlerSpecError` for an empty script, an empty filter, or an unknown event type.
    public init(parsing text: String) throws(HandlerSpecError) {
        let filterText: Substring
        let script: Substring
        if let equals = text.firstIndex(of: "=") {
            filterText = text[..<equals]
            script = text[text.index(after: equals)...]
        } else {
            filterText = "*"
            script = text[...]
        }
        guard script.contains(where: { !$0.isWhitespace }) else { throw HandlerSpecError(text, "the script is empty") }
        var filters: [Filter] = []
        for part in filterText.split(separator: ",", omittingEmptySubsequences: false) {
            filters.append(try Self.filter(part, in: text))
        }
        self.filters = filters
        self.script = String(script)
    }

    public init(filters: [Filter], script: String) {
        self.filters = filters
        self.script = script
    }

    /// Whether the handler runs for an event of this type (and, for `user` and `query`, name).
    public func matches(_ event: HandlerEvent, name: String? = nil) -> Bool {
        filters.contains { filter in
            switch filter {
            case .any: true
            case .event(let e): e == event
            case .user(let n): event == .user && n == name
            case .query(let n): event == .query && n == name
            }
        }
    }

    public var description: String {
        let filters = filters.map { filter in
            switch filter {
            case .any: "*"
            case .event(let e): e.rawValue
            case .user(let n): "user:\(n)"
            case .query(let n): "query:\(n)"
            }
        }
        return filters.joined(separator: ",") + "=" + script
    }

    private static func filter(_ part: Substring, in text: String) throws(HandlerSpecError) -> Filter {
        if part == "*" { return .any }
        for (prefix, event) in [("user:", HandlerEvent.user), ("query:", HandlerEvent.query)] where part.hasPrefix(prefix) {
            let name = String(part.dropFirst(prefix.count))
            if name.isEmpty { return .event(event) }
            guard !name.contains(where: { $0.isWhitespace || $0.isNewline }) else {
                throw HandlerSpecError(text, "the \(event.rawValue) name \"\(name)\" holds white space")
            }
            return event == .user ? .user(name) : .query(name)
        }
        guard let event = HandlerEvent(rawValue: String(part)) else {
            let known = (HandlerEvent.allCases.map(\.rawValue) + ["user:NAME", "query:NAME", "*"]).joined(separator: ", ")
            let what = part.isEmpty ? "an empty event type" : "unknown event type \"\(part)\""
            throw HandlerSpecError(text, "\(what) (known: \(known); a script holding \"=\" needs a filter, as in \"*=script\")")
        }
        return .event(event)
    }
}

/// A handler spec that does not parse; `description` says why, for configuration errors.
public struct HandlerSpecError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The spec as given.
    public var spec: String
    public var reason: String

    init(_ spec: String, _ reason: String) {
        self.spec = spec
        self.reason = reason
    }

    public var description: String { "event handler \"\(spec)\": \(reason)" }
}
