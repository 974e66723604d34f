import Foundation
import NIOHTTP1
import OverlayAgent
import Testing

/// Issue 12's "Bad input": what the server judges itself, and what the agent judges (status
/// and code passed through); nothing stored changes on a refusal.
@Suite struct BadInputTests {
    @Test(arguments: [
        ("POST", "/v1/endpoints", "{not json", "not JSON"),
        ("POST", "/v1/endpoints", "[1, 2]", "is not"),
        ("POST", "/v1/endpoints", #"{"network": "blue"}"#, "missing key 'mac'"),
        ("POST", "/v1/endpoints", #"{"network": 7, "mac": "02:00:00:00:00:01"}"#, "'network' is not a string"),
        ("POST", "/v1/join", "", "not JSON"),
        ("POST", "/v1/event", #"{"name": null}"#, "'name' is null"),
    ])
    func aBodyThatIsNotTheRightJSONIsBadJSON(method: String, path: String, body: String, message: String) async throws {
        try await withServer { server in
            let answer = try await server.send(HTTPMethod(rawValue: method), path, body: body)
            #expect(answer.status == 400)
            let error = try answer.decode(ErrorBody.self).error
            #expect(error.code == "bad_json")
            #expect(error.message.contains(message), "\(error.message)")
            #expect(await server.agent.stored.isEmpty)
        }
    }

    @Test func aBodyOverTheLimitIsTooLarge() async throws {
        try await withServer(maxBodyBytes: 1_024) { server in
            let name = String(repeating: "x", count: 2_000)
            let answer = try await server.send(.POST, "/v1/endpoints", body: #"{"network": "blue", "mac": "\#(name)"}"#)
            #expect(answer.status == 413)
            #expect(answer.code == "too_large")
            #expect(await server.agent.stored.isEmpty)
        }
    }

    @Test(arguments: ["/v1/nothing", "/v2/members", "/v1/endpoints/blue", "/"])
    func anUnknownRouteIs404(path: String) async throws {
        try await withServer { server in
            let answer = try await server.send(.GET, path)
            #expect(answer.status == 404)
            #expect(answer.code == "unknown_route")
        }
    }

    @Test(arguments: [
        ("DELETE", "/v1/members", "GET, HEAD"), ("GET", "/v1/join", "POST"), ("PUT", "/v1/endpoints", "GET, POST, HEAD"),
        ("GET", "/v1/endpoints/blue/02:00:00:00:00:01", "DELETE"), ("POST", "/metrics", "GET, HEAD"),
    ])
    func aWrongMethodIs405WithAllow(method: String, path: String, allow: String) async throws {
        try await withServer { server in
            let answer = try await server.send(HTTPMethod(rawValue: method), path, body: method == "GET" ? nil : "{}")
            #expect(answer.status == 405)
            #expect(answer.code == "method_not_allowed")
            #expect(answer.headers["Allow"] == [allow])
        }
    }

    @Test func headIsAnsweredWhereGetIs() async throws {
        try await withServer { server in
            let info = try await server.send(.HEAD, "/v1/info")
            #expect(info.status == 200)
            #expect(info.body.isEmpty)
            let join = try await server.send(.HEAD, "/v1/join")
            #expect(join.status == 405)
        }
    }

    @Test(arguments: [
        (#"{"network": "green", "mac": "02:00:00:00:00:09"}"#, 404, "unknown_network"),
        (#"{"network": "blue", "mac": "02:00:00:00:00"}"#, 400, "bad_mac"),
        (#"{"network": "blue", "mac": "01:00:5e:00:00:01"}"#, 400, "bad_mac"),
        (#"{"network": "blue", "mac": "02:00:00:00:00:09", "ip": "10.1.0.300"}"#, 400, "bad_ip"),
        (#"{"network": "blue", "mac": "02:00:00:00:00:09", "ip6": "fd00::g"}"#, 400, "bad_ip"),
        (#"{"network": "blue", "mac": "02:00:00:00:00:01"}"#, 409, "duplicate_endpoint"),
        (#"{"network": "blue", "mac": "02:00:00:00:00:09", "ip": "10.1.0.1"}"#, 409, "ip_in_use"),
    ])
    func theAgentsRefusalsPassThroughAndChangeNothing(body: String, status: Int, code: String) async throws {
        try await withServer { server in
            let first = try await server.send(
                .POST, "/v1/endpoints", body: #"{"network": "blue", "mac": "02:00:00:00:00:01", "ip": "10.1.0.1"}"#)
            #expect(first.status == 201)
            let before = try await server.send(.GET, "/v1/endpoints").body

            let answer = try await server.send(.POST, "/v1/endpoints", body: body)
            #expect(answer.status == status)
            #expect(answer.code == code)
            #expect(try await server.send(.GET, "/v1/endpoints").body == before)
        }
    }

    @Test func anOversizedEventIsRefusedByTheAgent() async throws {
        try await withServer { server in
            let payload = String(repeating: "p", count: FakeAgent.eventLimit)
            let answer = try await server.send(.POST, "/v1/event", body: #"{"name": "big", "payload": "\#(payload)"}"#)
            #expect(answer.status == 413)
            #expect(answer.code == "too_large")
            #expect(await server.agent.events.isEmpty)
        }
    }
}
