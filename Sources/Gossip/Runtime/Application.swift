public import GossipCore

/// One element of `GossipNode.userEvents()`.
public enum UserEventUpdate: Sendable, Hashable {
    /// A user event, delivered once (this node's own included).
    case event(UserEvent)
    /// The subscriber fell `buffer` elements behind and `count` events were dropped for it.
    case lost(count: Int)
}

/// One element of `GossipNode.incomingQueries()`.
public enum IncomingQueryUpdate: Sendable, Hashable {
    /// A query that selects this node; answer it with `GossipNode.respond(to:payload:)`.
    case query(IncomingQuery)
    /// The subscriber fell `buffer` elements behind and `count` queries were dropped for it.
    case lost(count: Int)
}

/// One element of the sequence `GossipNode.query(_:)` returns.
public enum QueryUpdate: Sendable, Hashable {
    /// `from` received the query and its filters selected it.
    case ack(from: String)
    /// `from` answered.
    case response(from: String, payload: [UInt8])
    /// The query is over, the last element: every selected live member answered, or the
    /// timeout passed.
    case finished(QueryEnd)
}

/// Names of queries the runtime answers itself (key rotation): never shown to callers, and
/// refused from them.
enum InternalQueries {
    static let prefix = "_grapevine-"
}

/// The application's side of the node (user events, queries, replicated-state changes), between
/// the loop and callers.
final class ApplicationHubs: Sendable {
    let userEvents = Hub<UserEventUpdate>()
    let queries = Hub<IncomingQueryUpdate>()
    let state = Hub<StateUpdate>()

    func finish() {
        userEvents.finish()
        queries.finish()
        state.finish()
    }
}

/// What the runtime does with the core's application outputs. Runs on the loop, inside the
/// core driver; subscribers get each batch at its end.
struct ApplicationState {
    /// This node's open queries, by id: each caller's sequence.
    var asked: [QueryID: Subscription<QueryUpdate>] = [:]
    var nextQuery: UInt64 = 1
    /// Set by the output of the request just handled.
    var refusal: RequestError?
    var fired: UserEvent?
    var newUserEvents: [UserEventUpdate] = []
    var newQueries: [IncomingQueryUpdate] = []
    var newRowChanges: [StateUpdate] = []
    /// Live rows this node holds, all owners: kept from the changes, for metrics and statistics.
    var rowsHeld = 0
    /// Internal queries by name: the answer to send, or nil to stay silent.
    var internalHandlers: [String: (IncomingQuery) -> [UInt8]?] = [:]
    var internalAnswers: [(QueryResponder, [UInt8])] = []
}

extension NodeRuntime {
    /// Routes one application output of the core.
    func application(_ output: Output) {
        switch output {
        case .userEvent(let e): app.newUserEvents.append(.event(e))
        case .eventFired(let e): app.fired = e
        case .query(let q):
            if q.name.hasPrefix(InternalQueries.prefix) {
                if let handler = app.internalHandlers[q.name], let answer = handler(q) {
                    app.internalAnswers.append((q.responder, answer))
                }
            } else {
                app.newQueries.append(.query(q))
            }
        case .queryAck(let id, let from): app.asked[id]?.push(CollectionOfOne(.ack(from: from)), lost: Self.neverLost)
        case .queryResponse(let id, let from, let payload):
            app.asked[id]?.push(CollectionOfOne(.response(from: from, payload: payload)), lost: Self.neverLost)
        case .queryFinished(let id, let end):
            guard let s = app.asked.removeValue(forKey: id) else { return }
            s.push(CollectionOfOne(.finished(end)), lost: Self.neverLost)
            s.finish()
        case .requestRefused(let request, let error):
            app.refusal = error
            logger.info("request refused", metadata: ["gossip.request": "\(request)", "gossip.error": "\(error)"])
        case .rowChanged(let c): rowChanged(c)
        case .datagram, .stream, .reply, .timer, .event, .joinCompleted, .leaveCompleted, .refused, .nameConflict: break
        }
    }

    /// A query's subscription holds at most an ack and an answer per member and the end, so
    /// its bound (`Settings.maxMembers` × 2 + 1) is never reached.
    static func neverLost(_: Int) -> QueryUpdate { .finished(.timeout(missing: 0)) }

    /// At the end of a batch: subscribers get what the batch delivered, internal queries
    /// are answered.
    func publishApplication() {
        if !app.newUserEvents.isEmpty {
            hubs.userEvents.publish(app.newUserEvents) { .lost(count: $0) }
            app.newUserEvents.removeAll(keepingCapacity: true)
            // The event clock moved: a restart must not deliver these again.
            snapshotChanged()
        }
        if !app.newQueries.isEmpty {
            hubs.queries.publish(app.newQueries) { .lost(count: $0) }
            app.newQueries.removeAll(keepingCapacity: true)
        }
        if !app.newRowChanges.isEmpty { publishRowChanges() }
        if !app.internalAnswers.isEmpty {
            let answers = app.internalAnswers
            app.internalAnswers.removeAll()
            for (responder, payload) in answers { handle(.respond(to: responder, payload: payload)) }
        }
    }

    /// Handles a caller's request and returns the core's refusal, if any.
    func request(_ input: Input) -> RequestError? {
        app.refusal = nil
        handle(input)
        defer { app.refusal = nil }
        return app.refusal
    }

    func fireEvent(name: String, payload: [UInt8], coalesce: Bool) -> Result<UInt64, GossipError> {
        guard phase == .running else { return .failure(.notRunning) }
        app.fired = nil
        if let error = request(.fireEvent(name: name, payload: payload, coalesce: coalesce)) {
            return .failure(.invalidRequest(error))
        }
        guard let e = app.fired else { return .failure(.notRunning) }
        return .success(e.time)
    }

    func ask(_ query: QueryRequest) -> Result<Updates<QueryUpdate>, GossipError> {
        guard phase == .running else { return .failure(.notRunning) }
        let id = QueryID(raw: app.nextQuery)
        app.nextQuery += 1
        let subscription = Subscription<QueryUpdate>(limit: 2 * settings.maxMembers + 1)
        app.asked[id] = subscription
        if let error = request(.query(query, id: id)) {
            app.asked[id] = nil
            return .failure(.invalidRequest(error))
        }
        return .success(Updates(subscription))
    }

    func respond(to responder: QueryResponder, payload: [UInt8]) -> GossipError? {
        guard isActive else { return .notRunning }
        return request(.respond(to: responder, payload: payload)).map { .invalidRequest($0) }
    }

    /// Ends every open query's sequence (the node stops).
    func finishApplication() {
        for s in app.asked.values { s.finish() }
        app.asked.removeAll()
        hubs.finish()
    }
}
