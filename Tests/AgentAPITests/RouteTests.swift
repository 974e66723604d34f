import Foundation
import NIOHTTP1
import OverlayAgent
import Testing

/// Every route's happy path against the in-memory agent.
@Suite struct RouteTests {
    @Test(arguments: [
        ("", ["alpha", "beta", "web-2"]),
        ("?status=alive", ["alpha", "web-2"]),
        ("?name=web", []),  // anchored: `web` is not `web-2`
        ("?name=web.*", ["web-2"]),
        ("?tag=role=web", ["alpha"]),  // anchored: not `web-canary`
        ("?tag=role=web.*&tag=dc=east", ["alpha"]),
        ("?tag=role%3Dd%2B", []),  // percent-encoded `role=d+`: one or more d, not `db`
        ("?status=alive%7Cfailed&name=%5Ba-b%5D.*", ["alpha", "beta"]),
    ])
    func membersAreFilteredLikeSerf(query: String, names: [String]) async throws {
        try await withServer { server in
            let answer = try await server.send(.GET, "/v1/members" + query)
            #expect(answer.status == 200)
            #expect(try answer.decode([MemberView].self).map(\.name) == names)
        }
    }

    @Test func aMemberFilterThatIsNotARegularExpressionIsRefused() async throws {
        try await withServer { server in
            let answer = try await server.send(.GET, "/v1/members?name=%28")
            #expect(answer.status == 400)
            #expect(answer.code == "bad_filter")
        }
    }

    @Test func joinLeaveEventTagsAndKeys() async throws {
        try await withServer { server in
            let join = try await server.send(.POST, "/v1/join", body: #"{"seeds": ["10.0.0.2", "10.0.0.3:7946"]}"#)
            #expect(join.status == 200)
            #expect(try join.decode(JoinReply.self) == JoinReply(joined: 2))
            #expect(await server.agent.joined == ["10.0.0.2", "10.0.0.3:7946"])

            let leave = try await server.send(.POST, "/v1/leave")
            #expect(leave.status == 200)
            #expect(await server.agent.left)

            let event = try await server.send(.POST, "/v1/event", body: #"{"name": "deploy", "payload": "v2", "coalesce": true}"#)
            #expect(try event.decode(EventReply.self) == EventReply(ltime: 1))
            #expect(await server.agent.events == [EventRequest(name: "deploy", payload: "v2", coalesce: true)])

            let tags = try await server.send(.POST, "/v1/tags", body: #"{"set": {"dc": "west"}, "delete": ["role"]}"#)
            #expect(try tags.decode(TagsReply.self) == TagsReply(tags: ["dc": "west"]))

            let keys = try await server.send(.POST, "/v1/keys", body: #"{"operation": "list"}"#)
            #expect(try keys.decode(KeysView.self).keys == ["a2V5": 3])
        }
    }

    @Test func aQueryIsStreamedAsChunkedNewlineDelimitedJSON() async throws {
        try await withServer { server in
            let answer = try await server.send(.POST, "/v1/query", body: #"{"name": "uptime", "payload": "x", "nodes": ["alpha", "beta"]}"#)
            #expect(answer.status == 200)
            #expect(answer.headers["Content-Type"] == ["application/x-ndjson"])
            #expect(answer.headers["Transfer-Encoding"] == ["chunked"])
            let records = try answer.body.split(separator: "\n").map {
                try JSONDecoder().decode(QueryRecord.self, from: Data($0.utf8))
            }
            #expect(records == [
                QueryRecord(type: "ack", from: "alpha"), QueryRecord(type: "ack", from: "beta"),
                QueryRecord(type: "response", from: "alpha", payload: "alpha:x"),
                QueryRecord(type: "response", from: "beta", payload: "beta:x"),
                QueryRecord(type: "done", outcome: "all-responded"),
            ])
        }
    }

    @Test func endpointsAreAddedListedAndRemoved() async throws {
        try await withServer { server in
            let add = try await server.send(
                .POST, "/v1/endpoints", body: #"{"network": "blue", "mac": "02:00:00:00:00:01", "ip": "10.1.0.1", "name": "web"}"#)
            #expect(add.status == 201)
            let view = try add.decode(EndpointView.self)
            #expect(view == EndpointView(network: "blue", vni: 100, mac: "02:00:00:00:00:01", ip: "10.1.0.1", ip6: nil, name: "web", claim: 1))

            let list = try await server.send(.GET, "/v1/endpoints")
            #expect(try list.decode([EndpointView].self) == [view])

            let remove = try await server.send(.DELETE, "/v1/endpoints/blue/02%3A00%3A00%3A00%3A00%3A01")
            #expect(remove.status == 204)
            #expect(try await server.send(.GET, "/v1/endpoints").decode([EndpointView].self).isEmpty)

            let again = try await server.send(.DELETE, "/v1/endpoints/blue/02:00:00:00:00:01")
            #expect(again.status == 404)
            #expect(again.code == "not_found")
        }
    }

    @Test func networksFDBInfoAndMetrics() async throws {
        try await withServer { server in
            let networks = try await server.send(.GET, "/v1/networks").decode([NetworkView].self)
            #expect(networks.map(\.name) == ["blue", "red"])

            let fdb = try await server.send(.GET, "/v1/networks/blue/fdb")
            #expect(fdb.status == 200)
            let view = try fdb.decode(FDBView.self)
            #expect(!view.inSync)
            #expect(view.lines.map(\.status) == ["ok", "missing"])

            let unknown = try await server.send(.GET, "/v1/networks/green/fdb")
            #expect(unknown.status == 404)
            #expect(unknown.code == "unknown_network")

            #expect(try await server.send(.GET, "/v1/info").decode(InfoView.self).name == "alpha")

            let metrics = try await server.send(.GET, "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.headers["Content-Type"].first?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(metrics.body.contains("grapevine_members 3"))
        }
    }
}
