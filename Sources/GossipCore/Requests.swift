/// Why a caller's request (an event, a query, an answer, tags) was refused. The runtime checks
/// requests with `Settings.check` before handing them to the core, so the caller gets the error
/// at once; the core checks again and refuses what slipped through (`Output.requestRefused`).
public enum RequestError: Error, Hashable, Sendable, CustomStringConvertible {
    /// An event or query name that breaks the name rule (`Limits.isValidName`).
    case invalidName(String)
    /// Name plus payload (plus encoded filters, for a query) over the limit.
    case tooLarge(size: Int, limit: Int)
    /// More filters than `Limits.maxQueryFilters`, more names than `Limits.maxFilterNodes`, or
    /// an invalid tag key.
    case invalidFilter(String)
    /// A timeout outside 1 ms ... `Settings.maxQueryTimeout`, or a relay factor outside 0...5.
    case outOfRange(String)
    /// The query cannot be answered: unknown here, already answered, or past its deadline.
    case notAnswerable(QueryResponder)
    /// The Lamport clock reached its ceiling (only forged times take it there).
    case clockExhausted
    /// Too many queries of this node are still open (`BroadcastCaps.query`).
    case tooManyOpenQueries(Int)
    /// The owner holds this many live rows already (`Settings.stateRowsPerOwner`), or twice
    /// as many with tombstones.
    case tooManyRows(Int)
    /// The owner uses this many tables already (`Settings.stateTables`).
    case tooManyTables(Int)
    /// A row key that is empty, over `limit` bytes, or not printable UTF-8 (`Limits.isValidStateKey`).
    case invalidKey(String, limit: Int)
    /// A name under a prefix the library keeps for itself (`_grapevine-` queries).
    case reservedName(String, prefix: String)
    /// `Input.forceLeave` of a name this node does not know (or of itself).
    case unknownMember(String)
    /// `Input.forceLeave` of a member that is alive or suspect: it would refute the notice.
    case memberNotFailed(String, MemberStatus)

    public var description: String {
        switch self {
        case .invalidName(let n):
            "invalid name \(Limits.escaped(n)): 1 to \(Limits.maxEventNameLength) bytes of UTF-8 without control or bidirectional formatting characters"
        case .tooLarge(let size, let limit): "\(size) bytes exceed the limit of \(limit)"
        case .invalidFilter(let why): "invalid filter: \(why)"
        case .outOfRange(let why): why
        case .notAnswerable(let r): "query \(r) cannot be answered: unknown, already answered, or past its deadline"
        case .clockExhausted: "the Lamport clock reached its ceiling"
        case .tooManyOpenQueries(let n): "\(n) queries are still open"
        case .tooManyRows(let n): "the owner holds \(n) rows already"
        case .tooManyTables(let n): "the owner uses \(n) tables already"
        case .invalidKey(let k, let limit):
            "invalid row key \(Limits.escaped(k)): 1 to \(limit) bytes of printable UTF-8 (Settings.stateKeySizeLimit)"
        case .reservedName(let n, let prefix):
            "the name \(Limits.escaped(n)) is reserved: names starting with \(prefix) are the library's own"
        case .unknownMember(let n): "no member named \(Limits.escaped(n)) is known (a node cannot force itself out)"
        case .memberNotFailed(let n, let status):
            "member \(Limits.escaped(n)) is \(status), not failed: only a failed member can be forced to leave"
        }
    }
}

extension Settings {
    /// Checks a user event: a valid name, and name plus payload within `userEventSizeLimit`.
    public func check(userEvent name: String, payload: [UInt8]) throws(RequestError) {
        if !Limits.isValidName(name) { throw .invalidName(name) }
        let size = name.utf8.count + payload.count
        let limit = effectiveLimit(userEventSizeLimit, overhead: Message.userEventOverhead)
        if size > limit { throw .tooLarge(size: size, limit: limit) }
    }

    /// Checks a query: a valid name, valid filters, timeout and relay factor in range, and name,
    /// payload and encoded filters within `querySizeLimit`.
    public func check(query q: QueryRequest) throws(RequestError) {
        if !Limits.isValidName(q.name) { throw .invalidName(q.name) }
        if q.filters.count > Limits.maxQueryFilters {
            throw .invalidFilter("\(q.filters.count) filters, at most \(Limits.maxQueryFilters)")
        }
        for f in q.filters {
            switch f {
            case .nodes(let names):
                if names.count > Limits.maxFilterNodes {
                    throw .invalidFilter("\(names.count) node names, at most \(Limits.maxFilterNodes)")
                }
                for n in names where !Limits.isValidName(n) { throw .invalidFilter("node name \(Limits.escaped(n))") }
            case .tag(let key, _):
                if !Limits.isValidTagKey(key) { throw .invalidFilter("tag key \(Limits.escaped(key))") }
            }
        }
        if let t = q.timeout, t < .milliseconds(1) || t > maxQueryTimeout {
            throw .outOfRange("timeout \(t) is outside 1 ms ... \(maxQueryTimeout)")
        }
        if !(0...QueryRequest.maxRelayFactor).contains(q.relayFactor) {
            throw .outOfRange("relay factor \(q.relayFactor) is outside 0 ... \(QueryRequest.maxRelayFactor)")
        }
        var c = SizeCounter()
        c.filters(q.filters)
        let size = q.name.utf8.count + q.payload.count + c.size
        let limit = effectiveLimit(querySizeLimit, overhead: Message.queryOverhead)
        if size > limit { throw .tooLarge(size: size, limit: limit) }
    }

    /// Checks a replicated-state row this node writes: a valid table name
    /// (`Limits.isValidName`), a key of 1 to `stateKeySizeLimit` bytes of printable UTF-8
    /// (`Limits.isValidStateKey`), and key plus value within `stateValueSizeLimit`. The counts
    /// (`stateRowsPerOwner`, `stateTables`) depend on the rows held and are checked by the core.
    public func check(row table: String, key: String, value: [UInt8]) throws(RequestError) {
        if !Limits.isValidName(table) { throw .invalidName(table) }
        if !Limits.isValidStateKey(key) || key.utf8.count > stateKeySizeLimit {
            throw .invalidKey(key, limit: stateKeySizeLimit)
        }
        let size = key.utf8.count + value.count
        let limit = effectiveLimit(stateValueSizeLimit, overhead: Message.stateRowOverhead)
        if size > limit { throw .tooLarge(size: size, limit: limit) }
    }

    /// Checks an answer's size against `queryResponseSizeLimit`.
    public func check(response payload: [UInt8]) throws(RequestError) {
        let limit = effectiveLimit(queryResponseSizeLimit, overhead: Message.queryResponseOverhead)
        if payload.count > limit { throw .tooLarge(size: payload.count, limit: limit) }
    }

    /// Checks tags: valid keys, and the encoded block within `tagsSizeLimit`.
    public func check(tags: Tags) throws(RequestError) {
        for (k, _) in tags where !Limits.isValidTagKey(k) { throw .invalidName(k) }
        let size = WireSize.tags(tags)
        let limit = effectiveLimit(tagsSizeLimit, overhead: Message.aliveOverhead)
        if size > limit || tags.count > Limits.maxTagCount { throw .tooLarge(size: size, limit: limit) }
    }
}

extension GossipInstance {
    /// Counts and reports a refused request.
    mutating func refuse(_ request: Request, _ error: RequestError) {
        counters.requestsRefused += 1
        outbox.append(.requestRefused(request, error))
    }
}
