import Gossip
import Overlay

extension Agent {
    /// The control API's error for what an owner or the node threw.
    static func agentError(_ error: any Error) -> AgentError {
        switch error {
        case let e as AgentError: return e
        case let e as StoreError: return .internalError("store", e.description)
        case let e as GossipError: return agentError(e)
        case let e as OverlayRowError: return .badRequest(e.reason, e.description)
        default: return .internalError("internal", "\(error)")
        }
    }

    static func agentError(_ e: GossipError) -> AgentError {
        switch e.code {
        case .invalidRequest:
            switch e.underlying as? RequestError {
            case .tooLarge?: return .tooLarge("\(e)")
            case .tooManyRows?, .tooManyTables?: return .conflict("limit", "\(e)")
            default: return .badRequest("bad_request", "\(e)")
            }
        case .notRunning, .cancelled: return .notReady("\(e)")
        case .noKeyring, .unknownKey, .cannotRemovePrimary, .keyringFull, .tagsTooLarge, .invalidSeed:
            return .badRequest("\(e.code)", "\(e)")
        case .joinFailed: return AgentError(status: 502, code: "join_failed", message: "\(e)")
        default: return .internalError("\(e.code)", "\(e)")
        }
    }
}
