#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LocalHTTP
import NIOCore
import NIOHTTP1
import Overlay

extension DockerEngine {
    /// The aliases a container has on a network (`--network-alias`, `docker network connect
    /// --alias`), without its own name and short ID (dockerd adds those itself). Called after
    /// Join has returned, never from a plugin handler.
    func aliases(container: String, network: String) async throws(Failure) -> [String] {
        struct Inspect: Decodable {
            struct Settings: Decodable {
                struct Attachment: Decodable {
                    var NetworkID: String?
                    var Aliases: [String]?
                }
                var Networks: [String: Attachment]?
            }
            var Name: String?
            var NetworkSettings: Settings?
        }
        let request = LocalHTTPClient.Request(.GET, "/v1.41/containers/\(container)/json", headers: HTTPHeaders(), body: nil)
        let answer: (status: Int, body: ByteBuffer)
        do { answer = try await LocalHTTPClient(.unix(socket)).send(request, deadline: .now() + timeout, limit: 8 << 20) } catch {
            throw Failure(message: "Docker engine: \(error)")
        }
        guard answer.status == 200 else { throw Failure(status: answer.status, message: "container \(container) not inspected") }
        let inspect: Inspect
        do { inspect = try JSONDecoder().decode(Inspect.self, from: Data(answer.body.readableBytesView)) } catch {
            throw Failure(status: answer.status, message: "engine answered something else than a container: \(error)")
        }
        let name = inspect.Name.map { $0.hasPrefix("/") ? String($0.dropFirst()) : $0 }
        let attachment = inspect.NetworkSettings?.Networks?.values.first { $0.NetworkID == network }
        // dockerd lists the container's short ID among them; a row holds at most
        // `maxAliases`, each 1...255 bytes without control characters.
        let usable = (attachment?.Aliases ?? []).filter { alias in
            alias != name && !(alias.utf8.count == 12 && container.hasPrefix(alias))
                && (1...255).contains(alias.utf8.count) && !alias.unicodeScalars.contains { $0.properties.generalCategory == .control }
        }
        return Array(OverlayRow.canonicalAliases(usable).prefix(OverlayRow.maxAliases))
    }
}
