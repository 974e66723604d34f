/// Exact encoded sizes of messages under the wire format (Docs/WIRE-FORMAT.md), so that the
/// core can fill datagrams up to the byte budget without depending on the codec. The codec's
/// tests check that every encoding is exactly this long.
///
/// Layout summary: integers that grow (sequence numbers, incarnations, lengths, counts) are
/// LEB128 varints; strings are a varint length and UTF-8 bytes; an address is a family byte
/// (4 or 6), 4 or 16 address bytes and a big-endian port; inside a datagram every message is
/// framed as a type byte and a varint body length, so that a receiver skips types it does not know.
public enum WireSize {
    @inlinable
    public static func varint(_ value: UInt64) -> Int {
        // 7 payload bits per byte.
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7
    }

    @inlinable
    public static func string(_ s: String) -> Int {
        let n = s.utf8.count
        return varint(UInt64(n)) + n
    }

    @inlinable
    public static func address(_ a: Address) -> Int {
        a.family == .v4 ? 1 + 4 + 2 : 1 + 16 + 2
    }

    public static func tags(_ t: Tags) -> Int {
        var c = SizeCounter()
        c.tags(t)
        return c.size
    }

    /// A type byte and a varint length in front of a body.
    @inlinable
    public static func framed(body: Int) -> Int { 1 + varint(UInt64(body)) + body }

}

/// Type codes of framed messages. Codes are never reused; a newer peer's unknown codes are skipped.
public enum MessageType: UInt8, Sendable, CaseIterable {
    case ping = 1
    case indirectPing = 2
    case ack = 3
    case nack = 4
    case alive = 5
    case suspect = 6
    case dead = 7
    case pushPull = 8
    case userEvent = 9
    case query = 10
    case queryResponse = 11
    case relay = 12
    case stateRow = 13
    case stateNewest = 14
}

extension Message {
    public var type: MessageType {
        switch self {
        case .ping: .ping
        case .indirectPing: .indirectPing
        case .ack: .ack
        case .nack: .nack
        case .alive: .alive
        case .suspect: .suspect
        case .dead: .dead
        case .userEvent: .userEvent
        case .query: .query
        case .queryResponse: .queryResponse
        case .relay: .relay
        case .stateRow: .stateRow
        case .stateNewest: .stateNewest
        }
    }

    /// A datagram whose budget cannot hold the largest probe message is refused by `Settings.validate()`.
    /// Names are limited to `Member.maxNameLength` bytes, so the largest probe, an indirect ping,
    /// needs 1 + 2 + 5 + 2 * (2 + 128) + 2 * 19 + 1 bytes.
    public static let largestFixedSize = 1 + 2 + 5 + 2 * (2 + Member.maxNameLength) + 2 * 19 + 1

    /// The bytes around a limited part (payload, tags) with every name at its longest, so that
    /// a settings limit plus this fits a datagram. Framing 1 + 3, a time or incarnation 9, a
    /// name 2 + 128, an address 19, a payload length 3, an id 5, a timeout 10.
    static let longestName = 2 + Member.maxNameLength
    public static let userEventOverhead = 4 + 9 + longestName + 3 + 1  // + name and payload
    public static let queryOverhead = 4 + 9 + 5 + longestName + 19 + 1 + 1 + 10 + 2 + 3  // + name, payload, filters
    public static let queryResponseOverhead = 4 + 9 + 5 + 2 * longestName + 1 + 3
    public static let aliveOverhead = 4 + 9 + longestName + 19
    /// A state row: framing, table and owner at their longest, key and value lengths, a
    /// version and the flags byte.
    public static let stateRowOverhead = 4 + 2 * longestName + 2 + 3 + 9 + 1  // + key and value
}
