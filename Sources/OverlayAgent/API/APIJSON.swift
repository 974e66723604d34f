#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import NIOCore

/// JSON in and out of the control API's routes.
enum APIJSON {
    static let ndjson = "application/x-ndjson"

    /// A response whose body is `value` as JSON (keys sorted, so output is stable).
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: encode(value))))
    }

    /// `value` as one line of newline-delimited JSON.
    static func line(_ value: some Encodable) -> ByteBuffer {
        var buffer = ByteBuffer(bytes: encode(value))
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }

    /// The refusal's `ErrorBody` with its status.
    static func response(refusing error: AgentError) -> Response {
        response(ErrorBody(error: error), status: HTTPResponse.Status(code: error.status))
    }

    /// Reads the whole body (at most `limit` bytes: more is `too_large`, 413) and decodes it
    /// (`bad_json`, 400, with the decoder's complaint).
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw AgentError.tooLarge("request body is larger than \(limit) bytes")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch let error as DecodingError {
            throw AgentError.badRequest("bad_json", explain(error))
        }
    }

    private static func encode(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // The API's bodies are plain structs of strings and numbers: encoding cannot fail.
        return try! encoder.encode(value)
    }

    /// The decoder's complaint in one line, with the JSON path where it arose.
    static func explain(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the body" : "'\(keys.joined(separator: "."))'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            let inner = context.codingPath.isEmpty ? "the body" : path(context)
            return "missing key '\(key.stringValue)' in \(inner)"
        case .typeMismatch(let type, let context):
            return "\(path(context)) is not \(describe(type)): \(context.debugDescription)"
        case .valueNotFound(let type, let context):
            return "\(path(context)) is null where \(describe(type)) is expected"
        case .dataCorrupted(let context):
            return "not JSON: \(context.underlyingError.map { "\($0)" } ?? context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is UInt64.Type, is UInt32.Type: "a number"
        default: "\(type)"
        }
    }
}
