#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LocalHTTP
import NIOCore
import NIOHTTP1

/// The few calls of Docker's engine API (v1.41, the version dockerd 20.10 speaks) the agent
/// makes to keep every host's Docker in step with the replicated network definitions: list,
/// create and delete `grapevine` networks. Never called from a plugin handler: dockerd may be
/// waiting on that handler, and the engine API has no timeout (docker-net-dhcp#23).
struct DockerEngine: Sendable {
    /// The engine's Unix socket (`/var/run/docker.sock`).
    let socket: String
    /// Every call gives up after this long.
    var timeout: TimeAmount = .seconds(30)

    struct Failure: Error, CustomStringConvertible {
        var status: Int?
        var message: String
        var description: String { status.map { "HTTP \($0): \(message)" } ?? message }
    }

    /// A network as `GET /networks` lists it (only the fields the agent reads).
    struct Network: Decodable, Sendable {
        struct IPAM: Decodable, Sendable {
            struct Config: Decodable, Sendable { var Subnet: String? }
            var Driver: String?
            var Config: [Config]?
        }
        var Name: String
        var Id: String
        var Driver: String
        var Internal: Bool?
        var Options: [String: String]?
        var IPAM: IPAM?
        /// Containers attached, by container ID (only in `network(_:)`'s answer).
        var Containers: [String: Container]?
    }

    struct Container: Decodable, Sendable {
        var Name: String
        var EndpointID: String
    }

    struct CreateNetwork: Encodable {
        struct IPAM: Encodable {
            struct Config: Encodable { var Subnet: String }
            var Driver: String
            var Config: [Config]
        }
        var Name: String
        var CheckDuplicate = true
        var Driver: String
        var Internal: Bool
        /// A dual-stack network: its IPv6 subnet is the second `IPAM.Config`.
        var EnableIPv6 = false
        var IPAM: IPAM
        var Options: [String: String]
        var Labels: [String: String]
    }

    /// Every network whose driver is `driver`.
    func networks(driver: String) async throws(Failure) -> [Network] {
        let query = percentEncoded(#"{"driver":[""# + driver + #""]}"#)
        let (status, body) = try await call(.GET, "/v1.41/networks?filters=\(query)")
        guard status == 200 else { throw Failure(status: status, message: Self.message(body)) }
        do { return try JSONDecoder().decode([Network].self, from: body) } catch {
            throw Failure(status: status, message: "engine answered something else than a network list: \(error)")
        }
    }

    /// The network with this ID or name, or nil when the engine has none.
    func network(_ id: String) async throws(Failure) -> Network? {
        let (status, body) = try await call(.GET, "/v1.41/networks/\(id)")
        if status == 404 { return nil }
        guard status == 200 else { throw Failure(status: status, message: Self.message(body)) }
        do { return try JSONDecoder().decode(Network.self, from: body) } catch {
            throw Failure(status: status, message: "engine answered something else than a network: \(error)")
        }
    }

    /// Creates a network; true when made, false when one of that name exists already.
    func create(_ network: CreateNetwork) async throws(Failure) -> Bool {
        let body: Data
        do { body = try JSONEncoder().encode(network) } catch { throw Failure(message: "\(error)") }
        let (status, answer) = try await call(.POST, "/v1.41/networks/create", body: body)
        if status == 201 || status == 200 { return true }
        if status == 409 { return false }
        throw Failure(status: status, message: Self.message(answer))
    }

    /// Deletes a network: true when gone (or already gone), false while containers use it.
    func delete(_ id: String) async throws(Failure) -> Bool {
        let (status, body) = try await call(.DELETE, "/v1.41/networks/\(id)")
        if status == 204 || status == 200 || status == 404 { return true }
        if status == 403 { return false }
        throw Failure(status: status, message: Self.message(body))
    }

    private func call(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws(Failure) -> (Int, Data) {
        var headers = HTTPHeaders()
        if body != nil { headers.add(name: "Content-Type", value: "application/json") }
        let request = LocalHTTPClient.Request(method, path, headers: headers, body: body.map { ByteBuffer(bytes: $0) })
        do {
            let answer = try await LocalHTTPClient(.unix(socket)).send(request, deadline: .now() + timeout, limit: 8 << 20)
            return (answer.status, Data(answer.body.readableBytesView))
        } catch {
            throw Failure(message: "Docker engine: \(error)")
        }
    }

    private static func message(_ body: Data) -> String {
        struct Message: Decodable { var message: String }
        return (try? JSONDecoder().decode(Message.self, from: body))?.message ?? String(decoding: body.prefix(512), as: UTF8.self)
    }
}
