import Hummingbird
import Logging
import Metrics
import Synchronization

/// Turns every refusal into an `ErrorBody` response, logs it and counts every answer in
/// `grapevine_api_requests_total{route,status}`. `route` is the route's pattern
/// (`/v1/endpoints/{network}/{mac}`) or `unmatched`, so the label set stays bounded.
struct APIAccounting<Context: RequestContext>: RouterMiddleware {
    let counters: APIRequestCounters
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let route = context.endpointPath ?? "unmatched"
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            let refusal = Self.refusal(for: error, request: request)
            let level: Logger.Level = refusal.status >= 500 ? .info : .debug
            logger.log(level: level, "control API refused a request", metadata: [
                "api.method": "\(request.method.rawValue)", "api.path": "\(request.uri.path)", "api.route": "\(route)",
                "api.status": "\(refusal.status)", "api.code": "\(refusal.code)", "api.message": "\(refusal.message)",
            ])
            response = APIJSON.response(refusing: refusal)
        }
        counters.increment(route: route, status: response.status.code)
        return response
    }

    static func refusal(for error: any Error, request: Request) -> AgentError {
        switch error {
        case let error as AgentError:
            return error
        case let error as any HTTPResponseError where error.status == .notFound:
            return .notFound("unknown_route", "no route \(request.method.rawValue) \(request.uri.path)")
        case let error as any HTTPResponseError:
            return AgentError(status: error.status.code, code: "http_\(error.status.code)", message: "\(error)")
        default:
            return .internalError("internal", "\(error)")
        }
    }
}

/// One `Counter` per (route, status), made on first use and kept.
final class APIRequestCounters: Sendable {
    private struct Key: Hashable {
        var route: String
        var status: Int
    }

    private let counters = Mutex<[Key: Counter]>([:])

    func increment(route: String, status: Int) {
        let counter = counters.withLock { counters in
            let key = Key(route: route, status: status)
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "grapevine_api_requests_total", dimensions: [("route", route), ("status", "\(status)")])
            counters[key] = counter
            return counter
        }
        counter.increment()
    }
}
