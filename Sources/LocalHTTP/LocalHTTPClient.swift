#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import NIOCore
public import NIOHTTP1
import NIOPosix

/// HTTP/1.1 to a daemon on this host: one request per connection, over a Unix socket (the
/// agent's control API, dockerd's engine API) or a TCP address. No TLS, no redirects, no
/// retries, no pooling: a connect that fails fails at once, with the reason.
public struct LocalHTTPClient: Sendable {
    public enum Endpoint: Sendable, Equatable, CustomStringConvertible {
        /// A Unix socket's path.
        case unix(String)
        /// A host name or IP address and a port.
        case tcp(host: String, port: Int)

        public var description: String {
            switch self {
            case .unix(let path): "socket \(path)"
            case .tcp(let host, let port): host.contains(":") ? "address [\(host)]:\(port)" : "address \(host):\(port)"
            }
        }
    }

    public struct Request: Sendable {
        public var method: HTTPMethod
        /// Path and query, already percent-encoded.
        public var uri: String
        public var headers: HTTPHeaders
        public var body: ByteBuffer?

        /// `Host`, `Connection: close` and `Content-Length` are set when sent; a JSON body needs
        /// its `Content-Type` in `headers`.
        public init(_ method: HTTPMethod, _ uri: String, headers: HTTPHeaders = [:], body: ByteBuffer? = nil) {
            self.method = method
            self.uri = uri
            self.headers = headers
            self.body = body
        }
    }

    public let endpoint: Endpoint
    /// Requests with a larger body are refused before connecting (`LocalHTTPError.tooLarge`).
    public var maxRequestBytes: Int
    /// Connecting gives up after this long, or at the request's deadline if sooner.
    public var connectTimeout: TimeAmount

    public init(_ endpoint: Endpoint, maxRequestBytes: Int = 1 << 20, connectTimeout: TimeAmount = .seconds(10)) {
        self.endpoint = endpoint
        self.maxRequestBytes = maxRequestBytes
        self.connectTimeout = connectTimeout
    }

    /// Sends `request` and hands the answer to `read`, which reads as much of the body as it
    /// wants; the connection closes when `read` returns. At `deadline` the connection is
    /// closed and reading throws `LocalHTTPError.timedOut`.
    /// - Throws: `LocalHTTPError`, or what `read` throws.
    public func execute<Result>(
        _ request: Request, deadline: NIODeadline, isolation: isolated (any Actor)? = #isolation,
        _ read: (inout LocalHTTPAnswer) async throws -> sending Result
    ) async throws -> sending Result {
        if let body = request.body, body.readableBytes > maxRequestBytes { throw LocalHTTPError.tooLarge(endpoint, limit: maxRequestBytes) }
        let started = NIODeadline.now()
        let channel = try await connect(deadline: deadline, started: started)
        let closer = channel.channel.eventLoop.scheduleTask(deadline: deadline) { channel.channel.close(promise: nil) }
        defer { closer.cancel() }
        let endpoint = self.endpoint
        let expired: () -> TimeAmount? = { NIODeadline.now() >= deadline ? deadline - started : nil }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.uri, headers: request.headers)
            // Go's HTTP server (dockerd) refuses a request without a Host.
            if !head.headers.contains(name: "Host") { head.headers.add(name: "Host", value: "localhost") }
            head.headers.replaceOrAdd(name: "Connection", value: "close")
            head.headers.replaceOrAdd(name: "Content-Length", value: "\(request.body?.readableBytes ?? 0)")
            var parts = inbound.makeAsyncIterator()
            var outgoing: [HTTPClientRequestPart] = [.head(head)]
            if let body = request.body { outgoing.append(.body(.byteBuffer(body))) }
            outgoing.append(.end(nil))
            // A server may answer and close as soon as it has read the head (a request without
            // a body, `Connection: close`): the answer is then already in, and the write's
            // "closed channel" is no failure. Only a write error with no answer behind it is.
            var writeError: (any Error)?
            do { try await outbound.write(contentsOf: outgoing) } catch { writeError = error }
            let first: HTTPClientResponsePart?
            do {
                first = try await parts.next()
            } catch {
                throw Self.failure(endpoint, writeError ?? error, expired)
            }
            guard case .head(let answerHead) = first else {
                throw first == nil ? Self.failure(endpoint, writeError, expired) : LocalHTTPError.cutOff(endpoint, reason: "the answer began without a head")
            }
            var answer = LocalHTTPAnswer(
                status: Int(answerHead.status.code), headers: answerHead.headers, endpoint: endpoint, parts: parts, expired: expired)
            return try await read(&answer)
        }
    }

    /// Sends `request` and returns the status and the whole body (at most `limit` bytes).
    /// - Throws: `LocalHTTPError`.
    public func send(_ request: Request, deadline: NIODeadline, limit: Int) async throws(LocalHTTPError)
        -> (status: Int, body: ByteBuffer)
    {
        do {
            return try await execute(request, deadline: deadline, isolation: nil) { answer in
                (answer.status, try await answer.collect(upTo: limit))
            }
        } catch let error as LocalHTTPError {
            throw error
        } catch {
            throw .cutOff(endpoint, reason: "\(error)")
        }
    }

    private func connect(deadline: NIODeadline, started: NIODeadline) async throws(LocalHTTPError)
        -> NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
    {
        let endpoint = self.endpoint
        let address: SocketAddress
        do {
            switch endpoint {
            case .unix(let path): address = try SocketAddress(unixDomainSocketPath: path)
            case .tcp(let host, let port): address = try SocketAddress.makeAddressResolvingHost(host, port: port)
            }
        } catch {
            throw .connectFailed(endpoint, reason: "\(error)")
        }
        let remaining = deadline - started
        guard remaining > .zero else { throw .timedOut(endpoint, after: .zero) }
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(min(remaining, connectTimeout))
        do {
            return try await bootstrap.connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        } catch let error as IOError where error.errnoCode == ENOENT || error.errnoCode == ECONNREFUSED {
            throw .notListening(endpoint, reason: String(cString: strerror(error.errnoCode)))
        } catch let error as IOError {
            throw .connectFailed(endpoint, reason: String(cString: strerror(error.errnoCode)))
        } catch ChannelError.connectTimeout(let after) {
            throw .timedOut(endpoint, after: after)
        } catch {
            throw .connectFailed(endpoint, reason: "\(error)")
        }
    }

    private static func failure(_ endpoint: Endpoint, _ error: (any Error)?, _ expired: () -> TimeAmount?) -> LocalHTTPError {
        if let after = expired() { return .timedOut(endpoint, after: after) }
        if let error = error as? LocalHTTPError { return error }
        return .cutOff(endpoint, reason: error.map { "\($0)" } ?? "the connection closed before an answer")
    }
}
