#if canImport(Glibc)
import Glibc
#endif
public import Logging
public import ServiceLifecycle
import Hummingbird
import NIOCore
import Synchronization

/// The agent's control API (Docs/API.md): HTTP/1.1 with JSON bodies over a Unix socket and,
/// optionally, a loopback TCP address, served by Hummingbird.
///
/// The socket's directory is created (0755) when missing; a socket file left by a dead agent
/// is replaced, anything else at the path is refused. The socket is bound in a directory only
/// the agent may enter, given mode 0660 with group `socketGroup` (0600 without one), and only
/// then renamed to `socketPath`, so nobody connects before its mode is set. It is removed
/// when the server stops.
/// `run()` returns at graceful shutdown, after open streams (`/v1/monitor`, `/v1/query`) end.
public struct ControlServer: Service {
    private let control: any AgentControl
    private let socketPath: String?
    private let socketGroup: String?
    private let tcpAddress: String?
    private let maxBodyBytes: Int
    private let logger: Logger
    private let onListening: @Sendable () async -> Void

    /// - Parameters:
    ///   - socketPath: the Unix socket to listen on (nil: none).
    ///   - socketGroup: a group name; its members may use the socket (mode 0660). Nil: 0600.
    ///   - tcpAddress: `127.0.0.1:PORT`, `[::1]:PORT` or `localhost:PORT` (nil: none); other
    ///     addresses are refused (`ControlServerError.notLoopback`) since the API has no login.
    ///   - maxBodyBytes: larger request bodies are refused with 413 `too_large`.
    ///   - onListening: called once every listener is bound and the socket's mode and group set.
    public init(control: any AgentControl, socketPath: String?, socketGroup: String?, tcpAddress: String?,
                maxBodyBytes: Int = 65_536, logger: Logger, onListening: @escaping @Sendable () async -> Void = {}) {
        self.control = control
        self.socketPath = socketPath
        self.socketGroup = socketGroup
        self.tcpAddress = tcpAddress
        self.maxBodyBytes = maxBodyBytes
        self.logger = logger
        self.onListening = onListening
    }

    /// Throws `ControlServerError` when a listener cannot be set up, else what the server throws.
    public func run() async throws {
        guard socketPath != nil || tcpAddress != nil else { throw ControlServerError.noListener }
        let tcp = try tcpAddress.map { text throws(ControlServerError) in try LoopbackAddress(parsing: text) }
        let gid = try socketGroup.map { name throws(ControlServerError) in try ControlSocket.groupID(named: name) }
        if let socketPath { try ControlSocket.prepare(path: socketPath) }
        let staging = try socketPath.map { path throws(ControlServerError) in try ControlSocket.makeStagingDirectory(beside: path) }
        defer { if let staging { ControlSocket.removeStaging(staging) } }

        let responder = ControlRoutes(control: control, maxBodyBytes: maxBodyBytes).router(logger: logger).buildResponder()
        let pending = Mutex((staging == nil ? 0 : 1) + (tcp == nil ? 0 : 1))
        let failure = Mutex<ControlServerError?>(nil)
        let listening: @Sendable () async -> Void = { [onListening] in
            let left = pending.withLock { count in
                count -= 1
                return count
            }
            if left == 0 { await onListening() }
        }
        var applications: [Application<RouterResponder<BasicRequestContext>>] = []
        if let socketPath, let staging {
            let staged = ControlSocket.stagedSocket(in: staging)
            applications.append(Application(
                responder: responder, configuration: .init(address: .unixDomainSocket(path: staged), serverName: nil),
                onServerRunning: { channel in
                    do throws(ControlServerError) {
                        try ControlSocket.publish(staging: staging, at: socketPath, group: gid)
                        logger.info("control API listening", metadata: ["api.socket": "\(socketPath)"])
                    } catch {
                        // Never serve a socket anyone may use: stop instead, and say why.
                        failure.withLock { $0 = error }
                        try? await channel.close()
                        return
                    }
                    await listening()
                },
                logger: logger))
        }
        if let tcp {
            applications.append(Application(
                responder: responder, configuration: .init(address: .hostname(tcp.host, port: tcp.port), serverName: nil),
                onServerRunning: { _ in await listening() }, logger: logger))
        }
        defer { if let socketPath { ControlSocket.remove(path: socketPath) } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for application in applications { group.addTask { try await application.run() } }
            // One listener ending (or failing) ends the others.
            _ = try await group.next()
            group.cancelAll()
            while try await group.next() != nil {}
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }
}
