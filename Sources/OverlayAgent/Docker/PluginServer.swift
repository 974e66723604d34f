#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// What the Docker plugin's routes call: the Docker driver (`DockerDriver`).
protocol DockerPlugin: Sendable {
    func requestPool(_ request: RequestPoolRequest) async throws(PluginError) -> RequestPoolReply
    func requestAddress(_ request: RequestAddressRequest) async throws(PluginError) -> RequestAddressReply
    func releaseAddress(_ request: ReleaseAddressRequest) async
    func createNetwork(_ request: CreateNetworkRequest) async throws(PluginError)
    func deleteNetwork(_ request: NetworkRequest) async
    func createEndpoint(_ request: CreateEndpointRequest) async throws(PluginError) -> CreateEndpointReply
    func join(_ request: DockerEndpointRequest) async throws(PluginError) -> DockerJoinReply
    func deleteEndpoint(_ request: DockerEndpointRequest) async
    func pluginRefused(method: String, code: String)
}

/// Docker's plugin protocol (`POST /Interface.Method`, JSON both ways) on the socket dockerd
/// discovers by itself (`/run/docker/plugins/grapevine.sock`) and, optionally, a loopback TCP
/// address named by a `.spec` file (Docs/DOCKER.md).
///
/// dockerd sends no Content-Type and, over a Unix socket, an empty Host header, so bodies are
/// decoded whatever the headers say. A refusal is HTTP 500 with `{"Err": message}`: the only
/// form both the network and the IPAM side of dockerd report to the user.
struct PluginServer: Service {
    let plugin: any DockerPlugin
    let socketPath: String?
    let tcpAddress: String?
    let logger: Logger
    let onListening: @Sendable () async -> Void

    /// Larger bodies are refused; the largest real request (CreateNetwork) is a few hundred bytes.
    static let maxBodyBytes = 1 << 20

    func run() async throws {
        let router = Router()
        router.post("{method}") { request, context in try await self.handle(request, context) }
        // Root only (0600): dockerd runs as root, and the protocol has no authentication.
        try await Listeners.serve(router.buildResponder(), name: "docker plugin", socketPath: socketPath, socketGroup: nil,
                                  tcpAddress: tcpAddress, logger: logger, onListening: onListening)
    }

    private func handle(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let method = context.parameters.get("method") ?? ""
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maxBodyBytes)
        } catch {
            return refuse(method, PluginError("too_large", "request body is larger than \(Self.maxBodyBytes) bytes"))
        }
        let bytes = Data(body.readableBytesView)
        do throws(PluginError) {
            return try await dispatch(method, bytes)
        } catch {
            return refuse(method, error)
        }
    }

    private func dispatch(_ method: String, _ body: Data) async throws(PluginError) -> Response {
        switch method {
        case "Plugin.Activate": return reply(ActivateReply())
        case "NetworkDriver.GetCapabilities": return reply(NetworkCapabilitiesReply())
        case "IpamDriver.GetCapabilities": return reply(IPAMCapabilitiesReply())
        case "IpamDriver.GetDefaultAddressSpaces": return reply(AddressSpacesReply())
        case "IpamDriver.RequestPool": return reply(try await plugin.requestPool(try decode(body)))
        case "IpamDriver.ReleasePool": let _: PoolRequest = try decode(body); return reply(EmptyReply())
        case "IpamDriver.RequestAddress": return reply(try await plugin.requestAddress(try decode(body)))
        case "IpamDriver.ReleaseAddress": await plugin.releaseAddress(try decode(body)); return reply(EmptyReply())
        case "NetworkDriver.CreateNetwork": try await plugin.createNetwork(try decode(body)); return reply(EmptyReply())
        case "NetworkDriver.DeleteNetwork": await plugin.deleteNetwork(try decode(body)); return reply(EmptyReply())
        case "NetworkDriver.CreateEndpoint": return reply(try await plugin.createEndpoint(try decode(body)))
        case "NetworkDriver.Join": return reply(try await plugin.join(try decode(body)))
        case "NetworkDriver.DeleteEndpoint": await plugin.deleteEndpoint(try decode(body)); return reply(EmptyReply())
        case "NetworkDriver.EndpointOperInfo": return reply(OperInfoReply())
        // Nothing to do for these: egress is Docker's gateway bridge, and there is no
        // discovery outside Swarm; acknowledged so that no caller sees an error.
        case "NetworkDriver.Leave", "NetworkDriver.ProgramExternalConnectivity", "NetworkDriver.RevokeExternalConnectivity",
             "NetworkDriver.DiscoverNew", "NetworkDriver.DiscoverDelete":
            return reply(EmptyReply())
        default:
            throw PluginError("unknown_method", "grapevine does not implement \(method)")
        }
    }

    private func decode<T: Decodable>(_ body: Data) throws(PluginError) -> T {
        // dockerd retries a call that timed out with the body already consumed: say that, not
        // that its JSON was wrong.
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            throw PluginError("empty_body", "the request arrived with an empty body (a JSON object was expected; a call retried by dockerd can arrive empty)")
        }
        do { return try JSONDecoder().decode(T.self, from: body) } catch let error as DecodingError {
            throw PluginError("bad_json", "request is not the JSON Docker sends: \(APIJSON.explain(error))")
        } catch {
            throw PluginError("bad_json", "request is not JSON: \(error)")
        }
    }

    private static let encoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    private func reply(_ value: some Encodable) -> Response {
        // Plain structs of strings, booleans and maps: encoding cannot fail.
        let data = (try? Self.encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/vnd.docker.plugins.v1.2+json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    private func refuse(_ method: String, _ error: PluginError) -> Response {
        plugin.pluginRefused(method: method, code: error.code)
        logger.info("docker plugin request refused", metadata: [
            "docker.method": "\(method)", "docker.code": "\(error.code)", "docker.error": "\(error.message)",
        ])
        let data = (try? Self.encoder.encode(PluginErrorReply(Err: error.message))) ?? Data("{}".utf8)
        return Response(status: .internalServerError, headers: [.contentType: "application/vnd.docker.plugins.v1.2+json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
