/// Why a packet, frame or message was refused. Every decode failure is one of these, and each
/// maps to a stable `reason` label, so that the runtime counts drops without parsing text.
public enum WireError: Error, Sendable, Hashable {
    /// The input ended inside a field.
    case truncated
    /// A packet or frame from a protocol version this node does not speak.
    case unsupportedVersion(UInt8)
    /// Header flag bits this version does not define; they could change the meaning of the rest.
    case unknownHeaderFlags(UInt8)
    /// A varint longer than its field allows, or with a value beyond the field's width.
    case varintOverflow
    /// A varint with redundant trailing zero groups; refused so that every value has one encoding.
    case nonCanonicalVarint
    /// A string that is not valid UTF-8.
    case invalidUTF8
    /// A member name longer than `Member.maxNameLength`.
    case nameTooLong(Int)
    /// A tag string, tag count or whole tag block beyond `WireLimits`.
    case tagsTooLarge
    /// An incarnation above `Limits.maxIncarnation`: no honest member ever reaches it.
    case incarnationOutOfRange(UInt64)
    /// Tag keys not strictly increasing: duplicate or unsorted keys have no single meaning.
    case unsortedTags
    /// A count (members, tags) that the remaining bytes cannot possibly hold.
    case countTooLarge(UInt64)
    /// An address family byte other than 4 or 6.
    case invalidAddressFamily(UInt8)
    /// A member status byte this version does not define.
    case invalidStatus(UInt8)
    /// Flag bits a message does not define.
    case invalidMessageFlags(UInt8)
    /// A body whose declared length and content disagree (bytes left over inside the frame).
    case bodyLengthMismatch
    /// A known message type where it does not belong (a stream-only message in a datagram).
    case unexpectedType(UInt8)
    /// A packet that holds no message at all.
    case emptyPacket
    /// A packet or frame whose sealing does not open under any key of the keyring: tampered,
    /// sealed with a key we do not hold, or sealed for another cluster label.
    case unauthenticated
    /// A plaintext packet or frame reached a node that requires sealing.
    case notSealed
    /// A sealed packet or frame reached a node without a keyring.
    case noKeyring
    /// A plaintext packet whose cluster label differs from ours.
    case labelMismatch
    /// A stream frame longer than the configured maximum.
    case frameTooLarge(Int)
    /// An encoding that would not fit the byte budget it was given (sender side).
    case exceedsBudget(Int)
    /// A user-event or query payload longer than `Limits.maxPayloadSize`.
    case payloadTooLarge(Int)
    /// A query filter of unknown kind, too many filters or names, or a pattern that does not compile.
    case invalidFilter
    /// A Lamport time at or above `LamportClock.ceiling`.
    case lamportTimeOutOfRange(UInt64)

    /// A stable, low-cardinality label for counters and logs.
    public var reason: Reason {
        switch self {
        case .truncated: .truncated
        case .unsupportedVersion: .unsupportedVersion
        case .unknownHeaderFlags: .unknownHeaderFlags
        case .varintOverflow: .varintOverflow
        case .nonCanonicalVarint: .nonCanonicalVarint
        case .invalidUTF8: .invalidUTF8
        case .nameTooLong: .nameTooLong
        case .tagsTooLarge: .tagsTooLarge
        case .incarnationOutOfRange: .incarnationOutOfRange
        case .unsortedTags: .unsortedTags
        case .countTooLarge: .countTooLarge
        case .invalidAddressFamily: .invalidAddressFamily
        case .invalidStatus: .invalidStatus
        case .invalidMessageFlags: .invalidMessageFlags
        case .bodyLengthMismatch: .bodyLengthMismatch
        case .unexpectedType: .unexpectedType
        case .emptyPacket: .emptyPacket
        case .unauthenticated: .unauthenticated
        case .notSealed: .notSealed
        case .noKeyring: .noKeyring
        case .labelMismatch: .labelMismatch
        case .frameTooLarge: .frameTooLarge
        case .exceedsBudget: .exceedsBudget
        case .payloadTooLarge: .payloadTooLarge
        case .invalidFilter: .invalidFilter
        case .lamportTimeOutOfRange: .lamportTimeOutOfRange
        }
    }

    /// Counter labels. Raw values are part of the metrics interface: never rename one.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        case truncated
        case unsupportedVersion = "unsupported_version"
        case unknownHeaderFlags = "unknown_header_flags"
        case varintOverflow = "varint_overflow"
        case nonCanonicalVarint = "non_canonical_varint"
        case invalidUTF8 = "invalid_utf8"
        case nameTooLong = "name_too_long"
        case tagsTooLarge = "tags_too_large"
        case unsortedTags = "unsorted_tags"
        case countTooLarge = "count_too_large"
        case invalidAddressFamily = "invalid_address_family"
        case invalidStatus = "invalid_status"
        case invalidMessageFlags = "invalid_message_flags"
        case bodyLengthMismatch = "body_length_mismatch"
        case unexpectedType = "unexpected_type"
        case emptyPacket = "empty_packet"
        case unauthenticated
        case notSealed = "not_sealed"
        case noKeyring = "no_keyring"
        case labelMismatch = "label_mismatch"
        case frameTooLarge = "frame_too_large"
        case exceedsBudget = "exceeds_budget"
        case incarnationOutOfRange = "incarnation_out_of_range"
        case payloadTooLarge = "payload_too_large"
        case invalidFilter = "invalid_filter"
        case lamportTimeOutOfRange = "lamport_time_out_of_range"
    }
}
