public import Logging
public import ServiceLifecycle
import Hummingbird

/// The agent's control API (Docs/API.md): HTTP/1.1 with JSON bodies over a Unix socket and,
/// optionally, a loopback TCP address, served by Hummingbird.
///
/// The socket is made as `Listeners` says: mode 0600, or 0660 with `socketGroup`, set before
/// anyone can connect.
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
        let responder = ControlRoutes(control: control, maxBodyBytes: maxBodyBytes).router(logger: logger).buildResponder()
        try await Listeners.serve(responder, name: "control API", socketPath: socketPath, socketGroup: socketGroup,
                                  tcpAddress: tcpAddress, logger: logger, onListening: onListening)
    }
}
