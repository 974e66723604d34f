import GossipCore
import GossipWire
import NIOCore

/// The internal key queries (`serf keys`): one per operation, answered by the runtime on every
/// member the query reaches (the asker included) and never shown to `incomingQueries()`.
enum KeyQueries {
    static func name(_ operation: KeyOperation) -> String { operation.queryName }

    static let byName: [String: KeyOperation] = Dictionary(
        uniqueKeysWithValues: KeyOperation.allCases.map { (name($0), $0) })
}

extension NodeRuntime {
    /// Makes this node answer the key queries. The handlers live as long as the runtime that
    /// holds them, hence `unowned`.
    func registerKeyQueries() {
        for (name, operation) in KeyQueries.byName {
            app.internalHandlers[name] = { [unowned self] query in
                answerKeyQuery(query, operation: operation)
            }
        }
    }

    /// Applies the request a key query carries and answers with the outcome and this node's keys
    /// after it, within this node's answer limit. A payload that does not decode, or names
    /// another operation than the query, is answered as failed (and counted as
    /// `malformed_request`), so the asker's report names this member instead of waiting for it.
    private func answerKeyQuery(_ query: IncomingQuery, operation: KeyOperation) -> [UInt8]? {
        let limit = settings.effectiveLimit(settings.queryResponseSizeLimit, overhead: Message.queryResponseOverhead)
        func failed(_ message: String) -> KeyResponse {
            KeyResponse(ok: false, message: message, keys: packetCodec.keyring?.keys.map(\.fingerprint) ?? [], limit: limit)
        }
        func malformed(_ why: String) -> KeyResponse {
            countKeyRefusal(operation, reason: "malformed_request", askedBy: query.origin, message: "key query refused: \(why)")
            return failed(why)
        }
        var payload = ByteBuffer(bytes: query.payload)
        let response: KeyResponse
        do throws(WireError) {
            let request = try KeyRequest.decode(&payload)
            if request.operation != operation {
                response = malformed("a \(request.operation) request in a \(operation) query")
            } else {
                switch applyKeyRequest(request, askedBy: query.origin) {
                case .success(let keys): response = KeyResponse(ok: true, keys: keys.map(\.fingerprint), limit: limit)
                case .failure(let error): response = failed("\(error)")
                }
            }
        } catch {
            response = malformed("undecodable request (\(error.reason.rawValue))")
        }
        var out = ByteBuffer()
        response.encode(into: &out)
        return Array(out.readableBytesView)
    }
}
