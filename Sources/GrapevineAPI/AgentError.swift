/// A refused request: the HTTP status the API answers with, a stable code, a message for people.
public struct AgentError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// 400 bad input, 404 unknown thing, 409 conflict with what is stored, 413 too large,
    /// 503 the agent is not ready (not joined, stopping), 500 a kernel or internal failure.
    public var status: Int
    /// Stable, for scripts: `bad_request`, `unknown_network`, `bad_mac`, `bad_ip`,
    /// `duplicate_endpoint`, `ip_in_use`, `not_found`, `too_large`, `not_ready`, `kernel`, ...
    public var code: String
    public var message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) (\(code))" }

    public static func badRequest(_ code: String, _ message: String) -> AgentError { AgentError(status: 400, code: code, message: message) }
    public static func notFound(_ code: String, _ message: String) -> AgentError { AgentError(status: 404, code: code, message: message) }
    public static func conflict(_ code: String, _ message: String) -> AgentError { AgentError(status: 409, code: code, message: message) }
    public static func tooLarge(_ message: String) -> AgentError { AgentError(status: 413, code: "too_large", message: message) }
    public static func notReady(_ message: String) -> AgentError { AgentError(status: 503, code: "not_ready", message: message) }
    public static func internalError(_ code: String, _ message: String) -> AgentError { AgentError(status: 500, code: code, message: message) }
}
