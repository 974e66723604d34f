import GossipCore

/// Strings from the network (member names, tag keys and values) go through this before they
/// are printed or logged, so that none can forge or hide a line.
enum Escaping {
    /// Renders control characters (Cc), format characters (Cf: bidi overrides and isolates,
    /// zero-width...) and line or paragraph separators as `\u{XX}`; everything else as is.
    static func escaped(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: needsEscape) else { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 8)
        for scalar in s.unicodeScalars {
            if needsEscape(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: true
        default: false
        }
    }

    /// Tags as `k=v,k=v`, each part escaped.
    static func escaped(_ tags: Tags) -> String {
        tags.map { "\(escaped($0.key))=\(escaped($0.value))" }.joined(separator: ",")
    }
}
