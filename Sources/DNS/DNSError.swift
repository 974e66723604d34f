/// Why a DNS message was refused. Every check a packet can fail ends here: nothing a packet
/// holds reaches a trap.
public enum DNSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The message ends inside a field.
    case truncated
    /// A label longer than 63 bytes (RFC 1035 §2.3.4), or one being built.
    case labelTooLong(Int)
    /// A name of more than 255 bytes in its wire form (length bytes and the root included).
    case nameTooLong
    /// A compression pointer that does not point strictly backwards, to an earlier label
    /// (which also rules out loops), or past the message.
    case badPointer(Int)
    /// Label types `01` and `10` (RFC 6891 §5 retired them); only plain labels and pointers.
    case badLabelType(UInt8)
    /// A count no message of this size can hold, or over `DNSLimits.maxRecords`.
    case badCount(Int)
    /// A record whose data length runs past the message.
    case badDataLength(Int)
    /// Bytes after the last record.
    case trailingBytes(Int)
    /// A message over `DNSLimits.maxMessage` bytes.
    case tooLarge(Int)
    /// An empty label inside a name given as text ("a..b"), or a name that is not text.
    case badText

    public var description: String {
        switch self {
        case .truncated: "message ends inside a field"
        case .labelTooLong(let n): "label of \(n) bytes, more than 63"
        case .nameTooLong: "name longer than 255 bytes"
        case .badPointer(let p): "compression pointer to \(p) does not point back to an earlier label"
        case .badLabelType(let t): "label type \(t >> 6) is not supported"
        case .badCount(let n): "record count \(n) does not fit in the message"
        case .badDataLength(let n): "record data of \(n) bytes runs past the message"
        case .trailingBytes(let n): "\(n) bytes after the last record"
        case .tooLarge(let n): "message of \(n) bytes, more than \(DNSLimits.maxMessage)"
        case .badText: "not a domain name"
        }
    }

    /// A short stable name for counters and logs (`dns_refused_total{reason}`).
    public var reason: String {
        switch self {
        case .truncated: "truncated"
        case .labelTooLong: "label_too_long"
        case .nameTooLong: "name_too_long"
        case .badPointer: "bad_pointer"
        case .badLabelType: "bad_label_type"
        case .badCount: "bad_count"
        case .badDataLength: "bad_data_length"
        case .trailingBytes: "trailing_bytes"
        case .tooLarge: "too_large"
        case .badText: "bad_text"
        }
    }
}

/// The bounds the codec holds every message to.
public enum DNSLimits {
    /// RFC 1035 §2.3.4.
    public static let maxLabel = 63
    /// The wire form of a name, length bytes and root label included (RFC 1035 §2.3.4).
    public static let maxName = 255
    /// A DNS message over UDP or TCP has a 16-bit length.
    public static let maxMessage = 65_535
    /// Records per section: a question costs at least 5 bytes, a record 11, so a 64 KiB
    /// message holds fewer anyway; this keeps a decoded message small.
    public static let maxRecords = 4_096
}
