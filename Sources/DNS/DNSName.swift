/// A domain name as its labels, each 1...63 bytes, at most 255 bytes in wire form. Labels are
/// bytes, not text: DNS compares them ASCII-case-insensitively and leaves other bytes alone
/// (RFC 4343), which `==` on `lowercased` does.
public struct DNSName: Hashable, Sendable, CustomStringConvertible {
    public let labels: [[UInt8]]

    /// The root name (no labels).
    public static let root = DNSName(unchecked: [])

    /// - Throws: `DNSError.labelTooLong` for an empty label or one over 63 bytes,
    ///   `.nameTooLong` over 255 bytes in wire form.
    public init(labels: [[UInt8]]) throws(DNSError) {
        var wire = 1
        for label in labels {
            guard (1...DNSLimits.maxLabel).contains(label.count) else { throw .labelTooLong(label.count) }
            wire += 1 + label.count
        }
        guard wire <= DNSLimits.maxName else { throw .nameTooLong }
        self.labels = labels
    }

    init(unchecked labels: [[UInt8]]) { self.labels = labels }

    /// "a.b.c" or "a.b.c." (the final dot optional); "" and "." are the root. No escapes:
    /// names the agent makes are container and network names.
    /// - Throws: `DNSError.badText` for an empty label, and the errors of `init(labels:)`.
    public init(_ text: String) throws(DNSError) {
        // Split on the byte, not on `Character`: a Unicode "prepend" mark (U+0600...) joins
        // the dot after it into one Character, which would leave a dot inside a label
        // (found by dns-fuzz).
        var bytes = Array(text.utf8)
        if bytes.last == 0x2E { bytes.removeLast() }
        if bytes.isEmpty {
            self = .root
            return
        }
        var labels: [[UInt8]] = []
        for part in bytes.split(separator: 0x2E, omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw .badText }
            labels.append(Array(part))
        }
        try self.init(labels: labels)
    }

    /// Bytes in wire form without compression: each label's length byte and bytes, and the root.
    public var wireLength: Int { labels.reduce(1) { $0 + 1 + $1.count } }

    /// ASCII letters lowered, other bytes kept: the form names are compared in.
    public var lowercased: DNSName {
        DNSName(unchecked: labels.map { $0.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 } })
    }

    /// This name with `other`'s labels after it (`name` + `network`).
    public func appending(_ other: DNSName) throws(DNSError) -> DNSName {
        try DNSName(labels: labels + other.labels)
    }

    /// Printable: letters, digits, `-` and `_` as they are, a dot inside a label as `\.`, other
    /// bytes as `\DDD` (the master-file escapes), so a name from a packet is safe in a log.
    public var description: String {
        if labels.isEmpty { return "." }
        var out = ""
        for (i, label) in labels.enumerated() {
            if i > 0 { out += "." }
            for b in label {
                switch b {
                case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x5F: out.unicodeScalars.append(Unicode.Scalar(b))
                case 0x2E: out += "\\."
                default:
                    let d = String(b)
                    out += "\\" + String(repeating: "0", count: 3 - d.count) + d
                }
            }
        }
        return out
    }
}
