#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GrapevineAPI
import LocalHTTP
import NIOCore
import NIOHTTP1

/// Why a client command failed; `exitCode` is what the process exits with.
enum ClientFailure: Error, CustomStringConvertible {
    /// The agent answered with an `ErrorBody`.
    case refused(AgentError)
    /// No answer: where we tried and why.
    case unreachable(APIClient.Target, String)
    /// Connecting, sending or reading failed (nothing listening, timed out, cut off).
    case transport(LocalHTTPError)
    /// A local step failed (reading or writing a file).
    case local(String)

    var exitCode: Int32 {
        switch self {
        case .refused, .local: 1
        case .unreachable, .transport: 2
        }
    }

    var description: String {
        switch self {
        case .refused(let error): "error: \(error.message) (\(error.code))"
        case .unreachable(let target, let reason): "error: cannot reach the agent at \(target): \(reason)"
        case .transport(.notListening(let endpoint, let reason)): "error: no agent listening on \(endpoint): \(reason)"
        case .transport(.timedOut(let endpoint, let after)):
            "error: the agent at \(endpoint) did not answer within \(after.nanoseconds / 1_000_000_000) s"
        case .transport(let error): "error: \(error)"
        case .local(let message): "error: \(message)"
        }
    }
}

/// The agent's control API over a Unix socket or TCP.
struct APIClient: Sendable {
    enum Target: Sendable, CustomStringConvertible {
        case unix(String)
        /// `host:port`, an IPv6 host in brackets.
        case tcp(String)

        var description: String {
            switch self {
            case .unix(let path): "socket \(path)"
            case .tcp(let address): "address \(address)"
            }
        }
    }

    enum Method: Sendable { case get, post, delete }

    let target: Target
    /// For requests that are not streams: the agent answers at once or is stuck.
    static let requestTimeout: TimeAmount = .seconds(30)
    /// Larger answers are refused: the largest the API makes (a 16-host FDB, every member of
    /// a large cluster) are a few MB.
    static let maxAnswerBytes = 64 << 20
    /// One record of a stream (a monitor log line, a query response) is far below this.
    static let maxLineBytes = 1 << 20

    /// Sends `body` (as JSON) and returns the answer's JSON when the status is 2xx.
    func send(_ method: Method, _ path: String, body: (some Encodable)? = Optional<Never>.none,
              timeout: TimeAmount = requestTimeout) async throws -> ByteBuffer {
        try await exchange(method, path, body: body, deadline: .now() + timeout) { answer in
            try await answer.collect(upTo: Self.maxAnswerBytes)
        }
    }

    /// Sends `body` and hands each line of the newline-delimited JSON answer to `line` as it
    /// arrives, until the agent ends the stream.
    func stream(_ method: Method, _ path: String, body: (some Encodable)? = Optional<Never>.none,
                deadline: NIODeadline = .distantFuture, line: (ByteBuffer) throws -> Void) async throws {
        try await exchange(method, path, body: body, deadline: deadline) { answer in
            while let one = try await answer.nextLine(upTo: Self.maxLineBytes) { try line(one) }
        }
    }

    /// Connects, sends, turns a refusal into `ClientFailure.refused` and transport errors
    /// into `.transport`, and hands a 2xx answer to `read`.
    private func exchange<Result>(
        _ method: Method, _ path: String, body: (some Encodable)?, deadline: NIODeadline,
        _ read: (inout LocalHTTPAnswer) async throws -> sending Result
    ) async throws -> sending Result {
        var request = LocalHTTPClient.Request(
            method == .get ? .GET : method == .post ? .POST : .DELETE, path)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = ByteBuffer(bytes: try JSONEncoder().encode(body))
        }
        do {
            return try await LocalHTTPClient(try endpoint()).execute(request, deadline: deadline) { answer in
                guard answer.status >= 400 else { return try await read(&answer) }
                let status = answer.status
                let text = (try? await answer.collect(upTo: 1 << 20)) ?? ByteBuffer()
                if let refusal = try? JSONDecoder().decode(ErrorBody.self, from: Data(text.readableBytesView)) {
                    throw ClientFailure.refused(refusal.error)
                }
                throw ClientFailure.refused(AgentError(status: status, code: "http_\(status)", message: String(buffer: text)))
            }
        } catch let error as LocalHTTPError {
            throw ClientFailure.transport(error)
        }
    }

    private func endpoint() throws(ClientFailure) -> LocalHTTPClient.Endpoint {
        switch target {
        case .unix(let path): return .unix(path)
        case .tcp(let address):
            let host: Substring
            let port: Substring
            if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
                host = address[address.index(after: address.startIndex)..<close]
                port = address[close...].dropFirst(2)
            } else if let colon = address.lastIndex(of: ":") {
                host = address[..<colon]
                port = address[address.index(after: colon)...]
            } else {
                throw .unreachable(target, "'\(address)' is not HOST:PORT")
            }
            guard let number = Int(port), (1...65535).contains(number), !host.isEmpty else {
                throw .unreachable(target, "'\(address)' is not HOST:PORT")
            }
            return .tcp(host: String(host), port: number)
        }
    }
}

/// Decodes an API answer, or says the agent spoke something else.
func decodeAnswer<T: Decodable>(_ type: T.Type, _ buffer: ByteBuffer, from api: APIClient) throws -> T {
    do {
        return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
    } catch {
        throw ClientFailure.unreachable(api.target, "the answer is not the API's JSON: \(error)")
    }
}

/// A query string, every value percent-encoded (regular expressions hold `+`, `&`, `=`).
func queryString(_ items: [(String, String)]) -> String {
    guard !items.isEmpty else { return "" }
    return "?" + items.map { "\($0.0)=\(percentEncoded($0.1))" }.joined(separator: "&")
}
