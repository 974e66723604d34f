import AsyncHTTPClient
import Foundation
import NIOCore
import OverlayAgent

/// Why a client command failed; `exitCode` is what the process exits with.
enum ClientFailure: Error, CustomStringConvertible {
    /// The agent answered with an `ErrorBody`.
    case refused(AgentError)
    /// No answer: where we tried and why.
    case unreachable(APIClient.Target, String)
    /// A local step failed (reading or writing a file).
    case local(String)

    var exitCode: Int32 {
        switch self {
        case .refused, .local: 1
        case .unreachable: 2
        }
    }

    var description: String {
        switch self {
        case .refused(let error): "error: \(error.message) (\(error.code))"
        case .unreachable(let target, let reason): "error: cannot reach the agent at \(target): \(reason)"
        case .local(let message): "error: \(message)"
        }
    }
}

/// The agent's control API over a Unix socket (`http+unix://`) or TCP.
struct APIClient: Sendable {
    enum Target: Sendable, CustomStringConvertible {
        case unix(String)
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

    /// Sends `body` (as JSON) and returns the answer's JSON when the status is 2xx.
    func send(_ method: Method, _ path: String, body: (some Encodable)? = Optional<Never>.none,
              timeout: TimeAmount = requestTimeout) async throws -> ByteBuffer {
        let response = try await start(method, path, body: body, deadline: .now() + timeout)
        do {
            return try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw ClientFailure.unreachable(target, "the answer was cut off: \(error)")
        }
    }

    /// Sends `body` and hands each line of the newline-delimited JSON answer to `line` as it
    /// arrives, until the agent ends the stream.
    func stream(_ method: Method, _ path: String, body: (some Encodable)? = Optional<Never>.none,
                deadline: NIODeadline = .distantFuture, line: (ByteBuffer) throws -> Void) async throws {
        let response = try await start(method, path, body: body, deadline: deadline)
        var pending = ByteBuffer()
        do {
            for try await chunk in response.body {
                var chunk = chunk
                pending.writeBuffer(&chunk)
                while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                    let length = newline - pending.readerIndex
                    let one = pending.readSlice(length: length)!
                    pending.moveReaderIndex(forwardBy: 1)
                    if one.readableBytes > 0 { try line(one) }
                }
            }
        } catch let failure as ClientFailure {
            throw failure
        } catch {
            throw ClientFailure.unreachable(target, "the stream was cut off: \(error)")
        }
        if pending.readableBytes > 0 { try line(pending) }
    }

    private func start(_ method: Method, _ path: String, body: (some Encodable)?, deadline: NIODeadline)
        async throws -> HTTPClientResponse
    {
        var request = HTTPClientRequest(url: url(path))
        switch method {
        case .get: request.method = .GET
        case .post: request.method = .POST
        case .delete: request.method = .DELETE
        }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        }
        if let failure = AgentProbe.failure(connecting: target) { throw ClientFailure.unreachable(target, failure) }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, deadline: deadline)
        } catch {
            throw ClientFailure.unreachable(target, "\(error)")
        }
        guard response.status.code >= 400 else { return response }
        let text = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
        if let refusal = try? JSONDecoder().decode(ErrorBody.self, from: Data(text.readableBytesView)) {
            throw ClientFailure.refused(refusal.error)
        }
        throw ClientFailure.refused(AgentError(
            status: Int(response.status.code), code: "http_\(response.status.code)", message: String(buffer: text)))
    }

    private func url(_ path: String) -> String {
        switch target {
        case .unix(let socket):
            // http+unix://<percent-encoded socket path><path>
            URL(httpURLWithSocketPath: socket, uri: path)?.absoluteString ?? "http+unix://invalid\(path)"
        case .tcp(let address):
            "http://\(address)\(path)"
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

/// `text` with everything but unreserved characters percent-encoded (for a path segment or
/// a query value).
func percentEncoded(_ text: String) -> String {
    var unreserved = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
    unreserved.insert(charactersIn: "-._~")
    return text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
}
