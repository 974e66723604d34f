#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import LocalHTTP
import Logging
import ServiceLifecycle

/// The control API's routes (Docs/API.md) over an `AgentControl`.
struct ControlRoutes: Sendable {
    let control: any AgentControl
    let maxBodyBytes: Int

    /// Records a monitor reader may fall behind before it gets a `lost` record.
    static let monitorBuffer = 1_024

    func router(logger: Logger) -> Router<BasicRequestContext> {
        let router = Router(options: .autoGenerateHeadEndpoints)
        router.add(middleware: APIAccounting(counters: APIRequestCounters(), logger: logger))
        var methods: [String: [HTTPRequest.Method]] = [:]
        func on(_ method: HTTPRequest.Method, _ path: String,
                _ handler: @escaping @Sendable (Request, BasicRequestContext) async throws -> Response) {
            router.on(RouterPath(path), method: method, use: handler)
            methods[path, default: []].append(method)
        }

        on(.get, "/v1/members") { request, _ in try await members(request) }
        on(.post, "/v1/join") { request, _ in
            let body = try await decode(JoinRequest.self, request)
            return APIJSON.response(JoinReply(joined: try await control.join(body.seeds, replay: body.replay ?? false)))
        }
        on(.post, "/v1/leave") { _, _ in
            await control.leave()
            return APIJSON.response(LeaveReply(left: true))
        }
        on(.post, "/v1/force-leave") { request, _ in
            APIJSON.response(try await control.forceLeave(try await decode(ForceLeaveRequest.self, request)))
        }
        on(.post, "/v1/event") { request, _ in
            let body = try await decode(EventRequest.self, request)
            return APIJSON.response(EventReply(ltime: try await control.fireEvent(body)))
        }
        on(.post, "/v1/query") { request, _ in
            let records = try await control.query(try await decode(QueryRequestBody.self, request))
            return stream(records)
        }
        on(.post, "/v1/tags") { request, _ in
            let body = try await decode(TagsRequest.self, request)
            return APIJSON.response(TagsReply(tags: try await control.updateTags(body)))
        }
        on(.post, "/v1/keys") { request, _ in
            APIJSON.response(try await control.keys(try await decode(KeyRequest.self, request)))
        }
        on(.get, "/v1/endpoints") { _, _ in APIJSON.response(await control.endpoints()) }
        on(.post, "/v1/endpoints") { request, _ in
            let body = try await decode(EndpointRequest.self, request)
            return APIJSON.response(try await control.addEndpoint(body), status: .created)
        }
        on(.delete, "/v1/endpoints/{network}/{mac}") { _, context in
            try await control.removeEndpoint(
                network: try parameter("network", context), mac: try parameter("mac", context))
            return Response(status: .noContent)
        }
        on(.get, "/v1/networks") { _, _ in APIJSON.response(await control.networks()) }
        on(.get, "/v1/networks/{name}/fdb") { _, context in
            APIJSON.response(try await control.fdb(network: try parameter("name", context)))
        }
        on(.get, "/v1/info") { _, _ in APIJSON.response(await control.info()) }
        on(.get, "/v1/names") { _, _ in APIJSON.response(await control.dnsNames()) }
        on(.get, "/v1/ipam") { _, _ in APIJSON.response(await control.ipam()) }
        on(.post, "/v1/ipam/reclaim") { request, _ in
            APIJSON.response(try await control.ipamReclaim(try await decode(IPAMReclaimRequest.self, request)))
        }
        on(.get, "/v1/monitor") { request, _ in
            let records = await control.monitor(buffer: Self.monitorBuffer)
            return stream(records, until: request)
        }
        on(.get, "/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: await control.metricsText())))
        }

        // A known path asked with another method is 405 with `Allow`, not the router's 404.
        let all: [HTTPRequest.Method] = [.get, .post, .put, .delete, .patch]
        for (path, allowed) in methods {
            let allowedWithHead: [HTTPRequest.Method] = allowed.contains(.get) ? allowed + [.head] : allowed
            let allow = allowedWithHead.map(\.rawValue).joined(separator: ", ")
            for method in all where !allowed.contains(method) {
                router.on(RouterPath(path), method: method) { request, _ -> Response in
                    var response = APIJSON.response(refusing: AgentError(
                        status: 405, code: "method_not_allowed",
                        message: "\(request.method.rawValue) is not allowed on \(request.uri.path) (allowed: \(allow))"))
                    response.headers[.allow] = allow
                    return response
                }
            }
        }
        return router
    }

    private func members(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let filter = try MemberFilter(status: query.get("status"), name: query.get("name"), tags: query.getAll("tag"))
        return APIJSON.response(await control.members().filter(filter.admits))
    }

    private func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        try await APIJSON.decode(type, from: request, limit: maxBodyBytes)
    }

    private func parameter(_ name: String, _ context: BasicRequestContext) throws -> String {
        guard let raw = context.parameters.get(name), let value = percentDecoded(raw) else {
            throw AgentError.badRequest("bad_request", "path parameter '\(name)' is not valid percent-encoding")
        }
        return value
    }

    /// Newline-delimited JSON, chunked, one line per record as it comes; ends with the
    /// records, when `request`'s client goes away, or at graceful shutdown.
    private func stream<Record: Encodable & Sendable>(
        _ records: AsyncStream<Record>, until request: Request? = nil
    ) -> Response {
        Response(
            status: .ok, headers: [.contentType: APIJSON.ndjson],
            body: ResponseBody { writer in
                if let request {
                    // The client closing its side cancels the loop (it would otherwise wait for
                    // the next record to find out).
                    try await request.body.consumeWithCancellationOnInboundClose { _ in
                        try await Self.write(records, to: &writer)
                    }
                } else {
                    try await Self.write(records, to: &writer)
                }
                try await writer.finish(nil)
            })
    }

    private static func write<Record: Encodable & Sendable>(
        _ records: AsyncStream<Record>, to writer: inout any ResponseBodyWriter
    ) async throws {
        for await record in records.cancelOnGracefulShutdown() { try await writer.write(APIJSON.line(record)) }
    }
}
