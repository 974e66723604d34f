import Foundation
import LocalHTTP
import Logging
import NIOCore
import NIOHTTP1
import OverlayAgent
import ServiceLifecycle
import Testing

/// A `ControlServer` on a Unix socket in a fresh temporary directory, over a `FakeAgent`.
struct RunningServer {
    let directory: String
    let socketPath: String
    let agent: FakeAgent

    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: String

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            try JSONDecoder().decode(T.self, from: Data(body.utf8))
        }

        /// The refusal's code, when the body is an `ErrorBody`.
        var code: String? { (try? decode(ErrorBody.self))?.error.code }
    }

    var client: LocalHTTPClient { LocalHTTPClient(.unix(socketPath)) }

    func send(_ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> Answer {
        let request = LocalHTTPClient.Request(method, path, body: body.map { ByteBuffer(string: $0) })
        return try await client.execute(request, deadline: .now() + .seconds(60)) { answer in
            let text = try await answer.collect(upTo: 1 << 24)
            return Answer(status: answer.status, headers: answer.headers, body: String(buffer: text))
        }
    }
}

let quietLogger = Logger(label: "agent-api-tests", factory: { _ in SwiftLogNoOpLogHandler() })

/// A new directory under /tmp (short: socket paths hold at most 107 bytes), removed after `body`.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    var template = Array("/tmp/gv-api-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
    let directory = String(cString: made)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    return try await body(directory)
}

/// Runs a server until `body` returns, then shuts it down gracefully and waits for it.
/// `prepare` runs on the socket path before the server starts.
func withServer(
    agent: FakeAgent = FakeAgent(), maxBodyBytes: Int = 65_536, socketGroup: String? = nil, tcpAddress: String? = nil,
    prepare: (String) throws -> Void = { _ in }, _ body: (RunningServer) async throws -> Void
) async throws {
    try await withTemporaryDirectory { directory in
        let socketPath = directory + "/run/grapevine.sock"
        try prepare(socketPath)
        let (ready, listening) = AsyncStream.makeStream(of: Void.self)
        let server = ControlServer(
            control: agent, socketPath: socketPath, socketGroup: socketGroup, tcpAddress: tcpAddress,
            maxBodyBytes: maxBodyBytes, logger: quietLogger, onListening: { listening.yield() })
        let group = ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [], logger: quietLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                defer { listening.finish() }
                try await group.run()
            }
            var started = ready.makeAsyncIterator()
            guard await started.next() != nil else {
                try await tasks.waitForAll()
                Issue.record("the server stopped before it listened")
                return
            }
            do {
                try await body(RunningServer(directory: directory, socketPath: socketPath, agent: agent))
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

/// A loopback TCP port nothing listens on now (the kernel's pick for port 0).
func unusedLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let status = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 ? getsockname(fd, pointer, &length) : -1
        }
    }
    guard status == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    return Int(UInt16(bigEndian: address.sin_port))
}
