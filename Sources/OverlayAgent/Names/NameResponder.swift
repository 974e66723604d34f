import Addresses
import DNS
import NIOCore

/// What the name service does with one datagram: the pure decision, apart from sockets, so
/// that every branch is tested without a network.
enum NameDecision: Equatable {
    /// Send these bytes back to the asker.
    case answer(ByteBuffer, NameOutcome)
    /// Not the overlay's: pass the query on to the host's upstream resolvers, as it came.
    case forward
    /// Send nothing (a response, or bytes too short to hold a header); the reason is counted.
    case drop(String)
}

/// How a query was answered, for `dns_queries_total{outcome}`.
enum NameOutcome: String, Equatable {
    case found, noData = "no_data", refused = "malformed", notImplemented = "not_implemented"
}

/// How a query came: the largest answer depends on it.
enum NameTransport: Equatable, Sendable {
    /// A datagram: 512 bytes, or the EDNS size the query gives (at most `maxUDP`). An answer
    /// that does not fit is cut with TC set, and the asker retries over TCP (RFC 1035 §4.2.1,
    /// RFC 7766).
    case udp
    /// A TCP connection: up to 65,535 bytes (the length prefix's range).
    case tcp
}

enum NameResponder {
    /// Answers carry TTL 0: nothing between the agent and the container (dockerd's resolver
    /// keeps no cache, busybox and glibc none) may keep an answer after its row is withdrawn.
    static let ttl: UInt32 = 0
    /// The largest UDP answer when the query has no EDNS option (RFC 1035 §4.2.1), and the
    /// largest the agent ever sends (DNS flag day 2020's 1,232 bytes).
    static let classicUDP = 512
    static let maxUDP = 1_232
    static let maxTCP = 65_535

    /// - Parameters:
    ///   - rotation: turns the order of several holders of an alias (round robin); the caller
    ///     passes a counter it increments per answer.
    ///   - transport: how the query came (`NameTransport`), which bounds the answer's size.
    static func decide(_ datagram: ByteBuffer, from source: IPAddress, table: NameTable, rotation: Int,
                       over transport: NameTransport = .udp) -> NameDecision {
        let message: DNSMessage
        do { message = try DNSMessage.decode(datagram) } catch {
            guard let header = DNSMessage.header(of: datagram) else { return .drop("short") }
            if header.flags.response { return .drop("response") }
            return .answer(reply(id: header.id, query: header.flags, code: DNSResponseCode.formatError), .refused)
        }
        if message.flags.response { return .drop("response") }
        guard message.flags.opcode == 0 else {
            return .answer(reply(id: message.id, query: message.flags, code: DNSResponseCode.notImplemented), .notImplemented)
        }
        guard message.questions.count == 1, let question = message.questions.first else {
            return .answer(reply(id: message.id, query: message.flags, code: DNSResponseCode.formatError), .refused)
        }
        guard question.recordClass == DNSType.classIN,
              let holders = table.lookup(question.name, from: source) else { return .forward }
        let wanted: [IPAddress]
        let rotated = holders.isEmpty ? holders
            : Array(holders[(rotation % holders.count)...] + holders[..<(rotation % holders.count)])
        switch question.type {
        case DNSType.a: wanted = rotated.flatMap { $0.addresses.filter(\.isV4) }
        case DNSType.aaaa: wanted = rotated.flatMap { $0.addresses.filter { !$0.isV4 } }
        case DNSType.any: wanted = rotated.flatMap(\.addresses)
        default: wanted = []
        }
        var flags = DNSFlags()
        flags.response = true
        flags.authoritative = true
        flags.recursionDesired = message.flags.recursionDesired
        flags.recursionAvailable = true
        var answer = DNSMessage(id: message.id, flags: flags, questions: [question])
        // As many records as fit: over UDP, the asker's size, with TC set when some are left
        // out so that it asks again over TCP, where every holder fits (a record is 16 or 28
        // bytes; 65,535 bytes hold 4,000 and more).
        let limit: Int
        switch transport {
        case .udp: limit = min(maxUDP, message.additionals.first(where: { $0.type == DNSType.opt }).map { max(classicUDP, Int($0.recordClass)) } ?? classicUDP)
        case .tcp: limit = maxTCP
        }
        var size = 12 + question.name.wireLength + 4
        for address in wanted {
            let bytes = address.bytes
            let cost = 2 + 10 + bytes.count
            guard size + cost <= limit else {
                answer.flags.truncated = true
                break
            }
            size += cost
            answer.answers.append(DNSRecord(name: question.name, type: bytes.count == 4 ? DNSType.a : DNSType.aaaa, ttl: ttl, data: bytes))
        }
        var out = ByteBuffer()
        do { try answer.encode(into: &out) } catch {
            return .answer(reply(id: message.id, query: message.flags, code: DNSResponseCode.serverFailure), .refused)
        }
        return .answer(out, answer.answers.isEmpty ? .noData : .found)
    }

    /// A reply with no sections: the error answers.
    static func reply(id: UInt16, query: DNSFlags, code: UInt8) -> ByteBuffer {
        var flags = DNSFlags()
        flags.response = true
        flags.opcode = query.opcode
        flags.recursionDesired = query.recursionDesired
        flags.recursionAvailable = true
        flags.responseCode = code
        var out = ByteBuffer()
        // Cannot throw: no sections.
        try? DNSMessage(id: id, flags: flags).encode(into: &out)
        return out
    }
}

extension IPAddress {
    var isV4: Bool {
        if case .v4 = self { return true }
        return false
    }
}
