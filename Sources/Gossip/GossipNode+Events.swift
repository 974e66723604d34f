public import GossipCore

/// User events and queries: Serf's `serf event` and `serf query`, on the same node.
extension GossipNode {
    /// Fires a user event: every member delivers it once (this node too), within a few network
    /// round trips (pushed at once to `Formulas.eagerFanout` members by the origin and by each
    /// first receiver), and later to members that missed it through push/pull.
    ///
    /// - Parameters:
    ///   - name: 1 to 128 bytes, the member-name rule (`Limits.isValidName`).
    ///   - payload: name plus payload at most `Settings.userEventSizeLimit` bytes (1,024).
    ///   - coalesce: receivers with `Settings.userEventCoalescePeriod` set may deliver only
    ///     the newest of same-named events within the period.
    /// - Returns: the event's Lamport time.
    /// - Throws: `invalidRequest` (with the reason) for a bad name or an event over the limit,
    ///   `notRunning` unless the node runs.
    @discardableResult
    public func fireEvent(_ name: String, payload: [UInt8] = [], coalesce: Bool = false) async throws(GossipError) -> UInt64 {
        do throws(RequestError) { try configuration.effectiveSettings.check(userEvent: name, payload: payload) } catch {
            throw .invalidRequest(error)
        }
        return try await onLoop { runtime, reply in
            reply(runtime.fireEvent(name: name, payload: payload, coalesce: coalesce))
        }.get()
    }

    /// User events as this node delivers them, each once. Each call is an independent
    /// subscriber that sees events delivered from now on; it ends when the node stops. A
    /// subscriber `buffer` events behind gets `.lost(count)` in place of what it missed.
    public func userEvents(buffer: Int = 4_096) async -> Updates<UserEventUpdate> {
        hubs.userEvents.subscribe(buffer: buffer)
    }

    /// Asks the members the filters select; returns their acks and answers as they arrive,
    /// ending with `.finished` as soon as every selected member that is still live has
    /// answered, or when the timeout passes (Serf's users wait out the whole timeout).
    ///
    /// Answers come straight back to this node's address by UDP (and through
    /// `relayFactor` random members each, for lossy paths); a member answers at most once.
    /// This node is asked too when the filters select it.
    ///
    /// - Throws: `invalidRequest` for a bad name, filter, timeout or relay factor, a query
    ///   over `Settings.querySizeLimit`, a name under the reserved prefix `_grapevine-`, or
    ///   too many open queries; `notRunning` unless the node runs.
    public func query(_ request: QueryRequest) async throws(GossipError) -> Updates<QueryUpdate> {
        if request.name.hasPrefix(InternalQueries.prefix) {
            throw .invalidRequest(.reservedName(request.name, prefix: InternalQueries.prefix))
        }
        return try await ask(request)
    }

    /// `query` without the reserved-name check, for the runtime's own queries (key rotation).
    func ask(_ request: QueryRequest) async throws(GossipError) -> Updates<QueryUpdate> {
        do throws(RequestError) { try configuration.effectiveSettings.check(query: request) } catch {
            throw .invalidRequest(error)
        }
        return try await onLoop { runtime, reply in reply(runtime.ask(request)) }.get()
    }

    /// Queries that select this node, as they arrive (the runtime's own, `_grapevine-…`,
    /// are answered inside and never shown). Answer with `respond(to:payload:)`. Each call is
    /// an independent subscriber; it ends when the node stops.
    public func incomingQueries(buffer: Int = 1_024) async -> Updates<IncomingQueryUpdate> {
        hubs.queries.subscribe(buffer: buffer)
    }

    /// Answers a query once, before its deadline.
    ///
    /// - Throws: `invalidRequest` for an answer over `Settings.queryResponseSizeLimit`, or a
    ///   query already answered, unknown, or past its deadline; `notRunning` unless the node runs.
    public func respond(to responder: QueryResponder, payload: [UInt8]) async throws(GossipError) {
        if let error = await onLoop({ runtime, reply in reply(runtime.respond(to: responder, payload: payload)) }) {
            throw error
        }
    }
}
