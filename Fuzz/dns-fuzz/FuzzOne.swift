import DNS
import NIOCore
import Overlay

/// One fuzz input through the DNS codec. The decoder may refuse anything but must never trap;
/// what it accepts must encode again (with compression of its own) to bytes that decode to an
/// equal message, and every name in it must hold to the limits.
enum FuzzOne {
    static func run(_ data: UnsafeRawBufferPointer) {
        let bytes = Array(data)
        message(bytes)
        // The same bytes after a valid header and question, to reach the record sections and
        // pointers into a real name at once.
        message(prefix(bytes.count) + bytes)
        name(bytes)
        overlayRow(bytes)
    }

    /// The bytes as an overlay row (the first byte says how many of the rest are the key):
    /// refused, or accepted and encoded back to exactly its key and value, which holds the
    /// endpoint row's aliases (names come from these rows) and the allocator rows to one encoding.
    static func overlayRow(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let rest = bytes.dropFirst()
        let split = min(Int(first % 16), rest.count)
        let key = Array(rest.prefix(split)), value = Array(rest.dropFirst(split))
        // Also after a valid endpoint key and value header, to reach the name and aliases, and
        // after an allocator key (IPv4 and IPv6 pools) and format byte, to reach the allocator record's codec.
        let endpoint: ([UInt8], [UInt8]) = ([2, 0, 0, 1, 2, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0, 0, 1] + Array(rest))
        let allocator: ([UInt8], [UInt8]) = ([5, 0, 0, 1, 0, 0, 0, 1], [1] + Array(rest))
        let allocator6: ([UInt8], [UInt8]) = ([6, 0, 0, 1, 0, 0, 0, 1], [1] + Array(rest))
        for (k, v) in [(key, value), endpoint, allocator, allocator6] {
            guard let row = try? OverlayRow(key: k, value: v, owner: "h") else { continue }
            if row.key != k { fatalError("row key does not re-encode: \(k)") }
            guard let again = try? row.value() else { fatalError("accepted row refused when made: \(k) \(v)") }
            if again != v { fatalError("non-canonical row accepted: \(k) \(v)") }
        }
    }

    /// A header with one question ("a.example.", A) and one answer whose bytes follow.
    static func prefix(_ rest: Int) -> [UInt8] {
        [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
         1, 0x61, 7, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0, 0, 1, 0, 1]
    }

    static func message(_ bytes: [UInt8]) {
        let buffer = ByteBuffer(bytes: bytes)
        _ = DNSMessage.header(of: buffer)
        guard let decoded = try? DNSMessage.decode(buffer) else { return }
        for name in decoded.questions.map(\.name) + (decoded.answers + decoded.authorities + decoded.additionals).map(\.name) {
            check(name)
        }
        var again = ByteBuffer()
        do { try decoded.encode(into: &again) } catch {
            fatalError("accepted message does not encode: \(error)")
        }
        // Compression of our own can only shorten what was sent without it, never lengthen
        // past what was accepted... except that the input may have used compression better
        // than ours; the size bound that matters is the codec's.
        if again.readableBytes > DNSLimits.maxMessage { fatalError("encoded past the limit") }
        let back: DNSMessage
        do { back = try DNSMessage.decode(again) } catch {
            fatalError("re-encoded message refused: \(error) \(bytes)")
        }
        if back != decoded { fatalError("re-encoded message decodes differently: \(bytes)") }
    }

    /// The bytes as a name in text (what a packet's name becomes in a log) and as labels.
    static func name(_ bytes: [UInt8]) {
        let text = String(decoding: bytes.prefix(300), as: UTF8.self)
        if let n = try? DNSName(text) {
            check(n)
            if let again = try? DNSName(n.description), again.labels.count != n.labels.count, !text.contains("\\") {
                fatalError("name text does not round trip: \(text)")
            }
        }
        let labels = bytes.split(separator: 0x2E, omittingEmptySubsequences: false).map(Array.init)
        if let n = try? DNSName(labels: labels) { check(n) }
    }

    static func check(_ n: DNSName) {
        if n.wireLength > DNSLimits.maxName { fatalError("name of \(n.wireLength) bytes accepted") }
        for label in n.labels where label.isEmpty || label.count > DNSLimits.maxLabel {
            fatalError("label of \(label.count) bytes accepted")
        }
        _ = n.description
        if n.lowercased.labels.map(\.count) != n.labels.map(\.count) { fatalError("lowercasing changed a length") }
    }
}
