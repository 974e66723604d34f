/// A TOML document (TOML 1.0), as the agent's configuration file uses it: comments, bare and
/// quoted keys, basic and literal strings (one line), integers (decimal, `0x`, `0o`, `0b`,
/// `_` separators), booleans, arrays (over several lines, with comments and a trailing comma),
/// inline tables, `[table]` and `[[array of tables]]`. Dotted keys, multi-line strings, floats
/// and dates are refused with the place and the reason: no option of the agent takes one.
///
/// Why not a TOML library: the one in reach (TOMLKit) links the whole of Foundation and ICU
/// into the daemon, about 8 MiB of its resident memory for a file read once at start
/// (`Docs/benchmarks/FOOTPRINT.md`).
///
/// Bad input is an error, never a trap: integers are checked for overflow, nesting is bounded
/// (`maximumDepth`), and every error names its line and column.
struct TOMLDocument {
    indirect enum Value: Equatable {
        case string(String)
        case integer(Int)
        case boolean(Bool)
        case array([Value])
        case table(Table)

        /// The TOML type's name, for errors.
        var typeName: String {
            switch self {
            case .string: "a string"
            case .integer: "an integer"
            case .boolean: "a boolean"
            case .array: "an array"
            case .table: "a table"
            }
        }
    }

    /// Keys in the order the file gives them.
    struct Table: Equatable {
        private(set) var keys: [String] = []
        private(set) var values: [String: Value] = [:]

        subscript(key: String) -> Value? { values[key] }

        mutating func insert(_ value: Value, for key: String) -> Bool {
            guard values[key] == nil else { return false }
            keys.append(key)
            values[key] = value
            return true
        }

        mutating func update(_ value: Value, for key: String) { values[key] = value }
    }

    struct ParseError: Error, CustomStringConvertible {
        var line: Int
        var column: Int
        var reason: String
        var description: String { "\(reason) at line \(line), column \(column)" }
    }

    /// Arrays and inline tables nested deeper than this are refused.
    static let maximumDepth = 32

    let root: Table

    /// - Throws: `ParseError` with the line and column (from 1) of the first fault.
    init(parsing text: String) throws(ParseError) {
        var parser = Parser(bytes: Array(text.utf8))
        root = try parser.document()
    }
}

private struct Parser {
    let bytes: [UInt8]
    var i = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    private var current: UInt8? { i < bytes.count ? bytes[i] : nil }

    private func error(_ reason: String, at position: Int? = nil) -> TOMLDocument.ParseError {
        let p = min(position ?? i, bytes.count)
        var line = 1
        var lineStart = 0
        for k in 0..<p where bytes[k] == UInt8(ascii: "\n") {
            line += 1
            lineStart = k + 1
        }
        return .init(line: line, column: p - lineStart + 1, reason: reason)
    }

    // MARK: the document

    /// Where the key/value lines go: the root, the last `[table]`, or the last element of an
    /// `[[array]]`. Headers name one key (no dots), so a path has at most two steps.
    private enum Section {
        case root
        case table(String)
        case arrayElement(String)
    }

    mutating func document() throws(TOMLDocument.ParseError) -> TOMLDocument.Table {
        var root = TOMLDocument.Table()
        var section = Section.root
        var declared: Set<String> = []
        while true {
            skipBlankAndComments()
            guard let c = current else { return root }
            if c == UInt8(ascii: "[") {
                let start = i
                i += 1
                let isArray = current == UInt8(ascii: "[")
                if isArray { i += 1 }
                skipSpaces()
                let name = try key()
                skipSpaces()
                guard current == UInt8(ascii: "]") else { throw error("expected ']' after the table name") }
                i += 1
                if isArray {
                    guard current == UInt8(ascii: "]") else { throw error("expected ']]' after the table name") }
                    i += 1
                }
                try endOfLine()
                if isArray {
                    switch root[name] {
                    case nil:
                        _ = root.insert(.array([.table(.init())]), for: name)
                    case .array(var elements)? where declared.contains("[[\(name)]]"):
                        elements.append(.table(.init()))
                        root.update(.array(elements), for: name)
                    default:
                        throw error("'\(name)' is already defined", at: start)
                    }
                    declared.insert("[[\(name)]]")
                    section = .arrayElement(name)
                } else {
                    guard root.insert(.table(.init()), for: name) else { throw error("'\(name)' is already defined", at: start) }
                    section = .table(name)
                }
                continue
            }
            let start = i
            let (k, v) = try keyValue(depth: 0)
            try endOfLine()
            switch section {
            case .root:
                guard root.insert(v, for: k) else { throw error("'\(k)' is given twice", at: start) }
            case .table(let name):
                guard case .table(var t)? = root[name], t.insert(v, for: k) else {
                    throw error("'\(name).\(k)' is given twice", at: start)
                }
                root.update(.table(t), for: name)
            case .arrayElement(let name):
                guard case .array(var elements)? = root[name], case .table(var t)? = elements.last, t.insert(v, for: k) else {
                    throw error("'\(name).\(k)' is given twice", at: start)
                }
                elements[elements.count - 1] = .table(t)
                root.update(.array(elements), for: name)
            }
        }
    }

    private mutating func keyValue(depth: Int) throws(TOMLDocument.ParseError) -> (String, TOMLDocument.Value) {
        let k = try key()
        skipSpaces()
        if current == UInt8(ascii: ".") { throw error("dotted keys are not supported: write a [table]") }
        guard current == UInt8(ascii: "=") else { throw error("expected '=' after '\(k)'") }
        i += 1
        skipSpaces()
        return (k, try value(depth: depth))
    }

    private mutating func key() throws(TOMLDocument.ParseError) -> String {
        switch current {
        case UInt8(ascii: "\"")?: return try basicString()
        case UInt8(ascii: "'")?: return try literalString()
        default:
            let start = i
            while let c = current, Self.isBareKey(c) { i += 1 }
            guard i > start else { throw error("expected a key") }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }
    }

    private static func isBareKey(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
    }

    // MARK: values

    private mutating func value(depth: Int) throws(TOMLDocument.ParseError) -> TOMLDocument.Value {
        guard depth < TOMLDocument.maximumDepth else { throw error("nested more than \(TOMLDocument.maximumDepth) deep") }
        switch current {
        case nil, UInt8(ascii: "\n")?, UInt8(ascii: "#")?:
            throw error("expected a value")
        case UInt8(ascii: "\"")?:
            if hasPrefix("\"\"\"") { throw error("multi-line strings are not supported") }
            return .string(try basicString())
        case UInt8(ascii: "'")?:
            if hasPrefix("'''") { throw error("multi-line strings are not supported") }
            return .string(try literalString())
        case UInt8(ascii: "[")?:
            return try array(depth: depth + 1)
        case UInt8(ascii: "{")?:
            return try inlineTable(depth: depth + 1)
        case UInt8(ascii: "t")?, UInt8(ascii: "f")?:
            if hasPrefix("true") { i += 4; return .boolean(true) }
            if hasPrefix("false") { i += 5; return .boolean(false) }
            throw error("expected a value (a string in quotes, a number, true or false)")
        default:
            return .integer(try integer())
        }
    }

    private func hasPrefix(_ s: String) -> Bool {
        let u = s.utf8
        guard i + u.count <= bytes.count else { return false }
        return bytes[i..<i + u.count].elementsEqual(u)
    }

    private mutating func integer() throws(TOMLDocument.ParseError) -> Int {
        let start = i
        var negative = false
        if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") {
            negative = current == UInt8(ascii: "-")
            i += 1
        }
        var radix = 10
        if current == UInt8(ascii: "0"), i + 1 < bytes.count {
            switch bytes[i + 1] {
            case UInt8(ascii: "x"): radix = 16
            case UInt8(ascii: "o"): radix = 8
            case UInt8(ascii: "b"): radix = 2
            default: break
            }
            if radix != 10 {
                guard i == start else { throw error("a sign is not allowed before 0x, 0o or 0b", at: start) }
                i += 2
            }
        }
        var value = 0
        var digits = 0
        var lastWasDigit = false
        while let c = current {
            if c == UInt8(ascii: "_") {
                guard lastWasDigit else { throw error("'_' must stand between digits") }
                lastWasDigit = false
                i += 1
                continue
            }
            guard let d = Self.digit(c), d < radix else { break }
            let (m, o1) = value.multipliedReportingOverflow(by: radix)
            let (s, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
            guard !o1, !o2 else { throw error("integer out of range", at: start) }
            value = s
            digits += 1
            lastWasDigit = true
            i += 1
        }
        guard digits > 0, lastWasDigit else {
            throw error("expected a value (a string in quotes, a number, true or false)", at: start)
        }
        if let c = current, c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: ":")
            || c == UInt8(ascii: "-") || Self.isBareKey(c)
        {
            throw error("not an integer (floats and dates are not supported)", at: start)
        }
        return value
    }

    private static func digit(_ c: UInt8) -> Int? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(c - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(c - UInt8(ascii: "A")) + 10
        default: nil
        }
    }

    private mutating func array(depth: Int) throws(TOMLDocument.ParseError) -> TOMLDocument.Value {
        let open = i
        i += 1  // [
        var elements: [TOMLDocument.Value] = []
        while true {
            skipBlankAndComments()
            // Arrays may span lines: an unclosed one is reported where it opened.
            if current == nil { throw error("array not closed", at: open) }
            if current == UInt8(ascii: "]") { i += 1; return .array(elements) }
            elements.append(try value(depth: depth))
            skipBlankAndComments()
            switch current {
            case UInt8(ascii: ",")?: i += 1
            case UInt8(ascii: "]")?: i += 1; return .array(elements)
            case nil: throw error("array not closed", at: open)
            default: throw error("expected ',' or ']' in the array")
            }
        }
    }

    private mutating func inlineTable(depth: Int) throws(TOMLDocument.ParseError) -> TOMLDocument.Value {
        i += 1  // {
        var table = TOMLDocument.Table()
        skipSpaces()
        if current == UInt8(ascii: "}") { i += 1; return .table(table) }
        while true {
            skipSpaces()
            if current == nil || current == UInt8(ascii: "\n") || current == UInt8(ascii: "\r") {
                throw error("an inline table must stay on one line")
            }
            let start = i
            let (k, v) = try keyValue(depth: depth)
            guard table.insert(v, for: k) else { throw error("'\(k)' is given twice", at: start) }
            skipSpaces()
            switch current {
            case UInt8(ascii: ",")?: i += 1
            case UInt8(ascii: "}")?: i += 1; return .table(table)
            default: throw error("expected ',' or '}' in the inline table")
            }
        }
    }

    // MARK: strings

    private mutating func basicString() throws(TOMLDocument.ParseError) -> String {
        let open = i
        i += 1
        var out: [UInt8] = []
        while true {
            guard let c = current, c != UInt8(ascii: "\n") else { throw error("string not closed on its line", at: open) }
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                return try decoded(out, at: open)
            case UInt8(ascii: "\\"):
                guard let e = current else { throw error("string not closed on its line", at: open) }
                i += 1
                switch e {
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "u"): out += try unicodeEscape(digits: 4)
                case UInt8(ascii: "U"): out += try unicodeEscape(digits: 8)
                default: throw error("unknown escape '\\\(Character(Unicode.Scalar(e)))'", at: i - 2)
                }
            default:
                guard c >= 0x20 || c == 0x09, c != 0x7F else { throw error("control character in a string", at: i - 1) }
                out.append(c)
            }
        }
    }

    private mutating func unicodeEscape(digits: Int) throws(TOMLDocument.ParseError) -> [UInt8] {
        let start = i - 2
        var scalar: UInt32 = 0
        for _ in 0..<digits {
            guard let c = current, let d = Self.digit(c) else { throw error("\\u needs \(digits) hexadecimal digits", at: start) }
            scalar = scalar << 4 | UInt32(d)
            i += 1
        }
        guard let u = Unicode.Scalar(scalar) else { throw error("\\u escape is not a Unicode scalar", at: start) }
        return Array(String(Character(u)).utf8)
    }

    private mutating func literalString() throws(TOMLDocument.ParseError) -> String {
        let open = i
        i += 1
        let start = i
        while let c = current, c != UInt8(ascii: "'") {
            guard c != UInt8(ascii: "\n") else { break }
            guard c >= 0x20 || c == 0x09, c != 0x7F else { throw error("control character in a string") }
            i += 1
        }
        guard current == UInt8(ascii: "'") else { throw error("string not closed on its line", at: open) }
        let text = Array(bytes[start..<i])
        i += 1
        return try decoded(text, at: open)
    }

    private func decoded(_ utf8: [UInt8], at position: Int) throws(TOMLDocument.ParseError) -> String {
        guard let s = String(validating: utf8, as: UTF8.self) else { throw error("a string is not valid UTF-8", at: position) }
        return s
    }

    // MARK: white space

    private mutating func skipSpaces() {
        while let c = current, c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") { i += 1 }
    }

    private mutating func skipComment() {
        guard current == UInt8(ascii: "#") else { return }
        while let c = current, c != UInt8(ascii: "\n") { i += 1 }
    }

    /// Spaces, newlines and comments, as between lines and inside arrays.
    private mutating func skipBlankAndComments() {
        while let c = current {
            if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") {
                i += 1
            } else if c == UInt8(ascii: "#") {
                skipComment()
            } else {
                return
            }
        }
    }

    /// After a key/value or a header: only spaces and a comment may follow on the line.
    private mutating func endOfLine() throws(TOMLDocument.ParseError) {
        skipSpaces()
        skipComment()
        if current == UInt8(ascii: "\r") { i += 1 }
        guard current == nil || current == UInt8(ascii: "\n") else { throw error("expected the end of the line") }
    }
}
