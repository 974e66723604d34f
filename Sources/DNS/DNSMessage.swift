/// Record types and classes the agent reads or writes.
public enum DNSType {
    public static let a: UInt16 = 1
    public static let aaaa: UInt16 = 28
    public static let opt: UInt16 = 41
    public static let any: UInt16 = 255
    public static let classIN: UInt16 = 1
}

/// Response codes (RFC 1035 §4.1.1).
public enum DNSResponseCode {
    public static let noError: UInt8 = 0
    public static let formatError: UInt8 = 1
    public static let serverFailure: UInt8 = 2
    public static let nameError: UInt8 = 3
    public static let notImplemented: UInt8 = 4
    public static let refused: UInt8 = 5
}

/// The header's second and third bytes, as fields (RFC 1035 §4.1.1; the Z bit and the
/// DNSSEC bits AD and CD kept as they came, in `z`).
public struct DNSFlags: Hashable, Sendable {
    public var response = false
    /// 0 is a standard query.
    public var opcode: UInt8 = 0
    public var authoritative = false
    public var truncated = false
    public var recursionDesired = false
    public var recursionAvailable = false
    /// The three bits between RA and the response code.
    public var z: UInt8 = 0
    public var responseCode: UInt8 = 0

    public init() {}

    init(raw: UInt16) {
        response = raw & 0x8000 != 0
        opcode = UInt8(raw >> 11 & 0xF)
        authoritative = raw & 0x0400 != 0
        truncated = raw & 0x0200 != 0
        recursionDesired = raw & 0x0100 != 0
        recursionAvailable = raw & 0x0080 != 0
        z = UInt8(raw >> 4 & 0x7)
        responseCode = UInt8(raw & 0xF)
    }

    var raw: UInt16 {
        (response ? 0x8000 : 0) | UInt16(opcode & 0xF) << 11 | (authoritative ? 0x0400 : 0) | (truncated ? 0x0200 : 0)
            | (recursionDesired ? 0x0100 : 0) | (recursionAvailable ? 0x0080 : 0) | UInt16(z & 0x7) << 4
            | UInt16(responseCode & 0xF)
    }
}

public struct DNSQuestion: Hashable, Sendable {
    public var name: DNSName
    public var type: UInt16
    public var recordClass: UInt16

    public init(name: DNSName, type: UInt16, recordClass: UInt16 = DNSType.classIN) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
    }
}

/// A resource record with its data as bytes. Data is never parsed: names inside it (CNAME,
/// NS...) may hold pointers into the message it came from, so such a record is only
/// meaningful within that message; the agent writes only A and AAAA records.
public struct DNSRecord: Hashable, Sendable {
    public var name: DNSName
    public var type: UInt16
    public var recordClass: UInt16
    /// Seconds.
    public var ttl: UInt32
    /// At most 65,535 bytes (a `u16` length).
    public var data: [UInt8]

    public init(name: DNSName, type: UInt16, recordClass: UInt16 = DNSType.classIN, ttl: UInt32, data: [UInt8]) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
        self.ttl = ttl
        self.data = data
    }
}

/// One DNS message (RFC 1035 §4.1): header, question, answer, authority and additional sections.
public struct DNSMessage: Hashable, Sendable {
    public var id: UInt16
    public var flags: DNSFlags
    public var questions: [DNSQuestion]
    public var answers: [DNSRecord]
    public var authorities: [DNSRecord]
    public var additionals: [DNSRecord]

    public init(id: UInt16, flags: DNSFlags, questions: [DNSQuestion] = [], answers: [DNSRecord] = [],
                authorities: [DNSRecord] = [], additionals: [DNSRecord] = []) {
        self.id = id
        self.flags = flags
        self.questions = questions
        self.answers = answers
        self.authorities = authorities
        self.additionals = additionals
    }

    /// The fixed header's size.
    public static let headerSize = 12
}
