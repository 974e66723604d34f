#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Serves one responder on a Unix socket and/or a loopback TCP address until either listener
/// ends: what the control API and the Docker plugin share.
///
/// The socket's directory is created when missing; a socket file left by a dead process is
/// replaced, anything else at the path is refused. The socket is bound in a directory only this
/// process may enter, given mode 0660 with group `socketGroup` (0600 without one), and only then
/// renamed to `socketPath`, so nobody connects before its mode is set. It is removed at the end.
enum Listeners {
    /// - Parameters:
    ///   - name: what is listening, for the log (`control API`, `docker plugin`).
    ///   - onListening: called once every listener is bound and the socket's mode and group set.
    /// - Throws: `ControlServerError` when a listener cannot be set up, else what the server throws.
    static func serve(
        _ responder: RouterResponder<BasicRequestContext>, name: String, socketPath: String?, socketGroup: String?,
        tcpAddress: String?, logger: Logger, onListening: @escaping @Sendable () async -> Void
    ) async throws {
        guard socketPath != nil || tcpAddress != nil else { throw ControlServerError.noListener }
        let tcp = try tcpAddress.map { text throws(ControlServerError) in try LoopbackAddress(parsing: text) }
        let gid = try socketGroup.map { name throws(ControlServerError) in try ControlSocket.groupID(named: name) }
        if let socketPath { try ControlSocket.prepare(path: socketPath) }
        let staging = try socketPath.map { path throws(ControlServerError) in try ControlSocket.makeStagingDirectory(beside: path) }
        defer { if let staging { ControlSocket.removeStaging(staging) } }

        let pending = Mutex((staging == nil ? 0 : 1) + (tcp == nil ? 0 : 1))
        let failure = Mutex<ControlServerError?>(nil)
        let listening: @Sendable () async -> Void = {
            let left = pending.withLock { count in
                count -= 1
                return count
            }
            if left == 0 { await onListening() }
        }
        var applications: [Application<RouterResponder<BasicRequestContext>>] = []
        if let socketPath, let staging {
            applications.append(Application(
                responder: responder, configuration: .init(address: .unixDomainSocket(path: ControlSocket.stagedSocket(in: staging)), serverName: nil),
                onServerRunning: { channel in
                    do throws(ControlServerError) {
                        try ControlSocket.publish(staging: staging, at: socketPath, group: gid)
                        logger.info("\(name) listening", metadata: ["api.socket": "\(socketPath)"])
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
                onServerRunning: { _ in
                    logger.info("\(name) listening", metadata: ["api.address": "\(tcp.host):\(tcp.port)"])
                    await listening()
                },
                logger: logger))
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
