/// A regular expression that must match a whole string (a query's filter on node names and tag
/// values), run in time linear in the input whatever the pattern.
///
/// Why not `Regex` or libc's `regexec`: both backtrack, so a pattern such as `(a+)+$` sent in a
/// query by any member would stall every node's event loop for seconds or more (ReDoS). This is
/// Thompson's construction (Thompson 1968; Cox, "Regular Expression Matching Can Be Simple And
/// Fast", 2007): the pattern becomes a small program, and matching runs every alternative in
/// lockstep, O(pattern × input).
///
/// Syntax: literal characters; `.` (any character); classes `[abc]`, `[a-z0-9_]`, `[^...]`;
/// `\` before any of `\.[]()|*+?{}^$-` for the character itself, and `\d`, `\w`, `\s`; `*`, `+`,
/// `?`, `{n}`, `{n,}`, `{n,m}` (n, m ≤ 100); `|`; groups `(...)`. There are no back-references
/// and no anchors: the match is always anchored at both ends (Serf's filters match anywhere, a
/// known surprise: `web` matched `web-1` and `cobweb`; here write `web.*`).
public struct FilterPattern: Sendable, Hashable, CustomStringConvertible {
    /// The longest pattern accepted, in bytes of UTF-8.
    public static let maxLength = 256
    /// The largest compiled program (counted repetitions expand): bounds the cost per character.
    public static let maxProgramSize = 4_096

    public let source: String
    private let program: [Instruction]

    /// - Throws: `FilterPatternError` with the position and the reason, for a pattern that is
    ///   too long, malformed, or expands past `maxProgramSize`.
    public init(_ source: String) throws(FilterPatternError) {
        guard source.utf8.count <= Self.maxLength else { throw FilterPatternError(position: Self.maxLength, reason: .tooLong) }
        var parser = Parser(Array(source.unicodeScalars))
        let tree = try parser.parse()
        var compiler = Compiler()
        try compiler.emit(tree)
        compiler.program.append(.match)
        self.source = source
        self.program = compiler.program
    }

    public var description: String { source }

    public static func == (a: Self, b: Self) -> Bool { a.source == b.source }
    public func hash(into hasher: inout Hasher) { hasher.combine(source) }

    /// Whether the whole of `text` matches.
    public func matches(_ text: String) -> Bool {
        var current = ThreadList(capacity: program.count)
        var next = ThreadList(capacity: program.count)
        addThread(0, to: &current)
        for scalar in text.unicodeScalars {
            if current.isEmpty { return false }
            next.clear()
            for pc in current.pcs {
                if case .scalar(let test) = program[pc], test.matches(scalar) { addThread(pc + 1, to: &next) }
            }
            swap(&current, &next)
        }
        return current.pcs.contains { if case .match = program[$0] { true } else { false } }
    }

    /// Adds `pc` and everything reachable from it without consuming a character.
    private func addThread(_ start: Int, to list: inout ThreadList) {
        var stack = [start]
        while let pc = stack.popLast() {
            guard list.insert(pc) else { continue }
            switch program[pc] {
            case .jump(let target): stack.append(target)
            case .split(let a, let b):
                stack.append(b)
                stack.append(a)
            case .scalar, .match: break
            }
        }
    }
}

/// Why a pattern was refused, and where (a count of Unicode scalars from the start).
public struct FilterPatternError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        case tooLong, tooComplex, unbalancedParenthesis, nothingToRepeat, unterminatedClass
        case badRange, badEscape, badCount, trailingBackslash
    }

    public var position: Int
    public var reason: Reason

    public var description: String {
        let what: String
        switch reason {
        case .tooLong: what = "longer than \(FilterPattern.maxLength) bytes"
        case .tooComplex: what = "expands past \(FilterPattern.maxProgramSize) steps (counted repetitions)"
        case .unbalancedParenthesis: what = "unbalanced parenthesis"
        case .nothingToRepeat: what = "nothing to repeat"
        case .unterminatedClass: what = "unterminated character class"
        case .badRange: what = "range out of order"
        case .badEscape: what = "unknown escape"
        case .badCount: what = "repetition count must be {n}, {n,} or {n,m} with n ≤ m ≤ 100"
        case .trailingBackslash: what = "pattern ends with a backslash"
        }
        return "invalid pattern at \(position): \(what)"
    }
}

// MARK: - program

private enum Instruction: Sendable {
    case scalar(ScalarTest)
    case split(Int, Int)
    case jump(Int)
    case match
}

private struct ScalarTest: Sendable {
    var ranges: [ClosedRange<UInt32>]
    var negated: Bool

    static let any = ScalarTest(ranges: [0...0x10_FFFF], negated: false)
    static func literal(_ s: Unicode.Scalar) -> ScalarTest { ScalarTest(ranges: [s.value...s.value], negated: false) }

    func matches(_ s: Unicode.Scalar) -> Bool {
        ranges.contains { $0.contains(s.value) } != negated
    }
}

private struct ThreadList {
    private(set) var pcs: [Int] = []
    private var present: [Bool]

    init(capacity: Int) {
        present = Array(repeating: false, count: capacity)
        pcs.reserveCapacity(capacity)
    }

    var isEmpty: Bool { pcs.isEmpty }

    mutating func insert(_ pc: Int) -> Bool {
        if present[pc] { return false }
        present[pc] = true
        pcs.append(pc)
        return true
    }

    mutating func clear() {
        for pc in pcs { present[pc] = false }
        pcs.removeAll(keepingCapacity: true)
    }
}

// MARK: - parsing

private indirect enum Node {
    case test(ScalarTest)
    case empty
    case concat([Node])
    case alternate([Node])
    case repeated(Node, min: Int, max: Int?)
}

private struct Parser {
    let s: [Unicode.Scalar]
    var i = 0

    init(_ s: [Unicode.Scalar]) { self.s = s }

    func fail(_ reason: FilterPatternError.Reason) -> FilterPatternError { FilterPatternError(position: i, reason: reason) }

    mutating func parse() throws(FilterPatternError) -> Node {
        let node = try alternation(depth: 0)
        if i < s.count { throw fail(.unbalancedParenthesis) }
        return node
    }

    mutating func alternation(depth: Int) throws(FilterPatternError) -> Node {
        var branches = [try concatenation(depth: depth)]
        while i < s.count, s[i] == "|" {
            i += 1
            branches.append(try concatenation(depth: depth))
        }
        return branches.count == 1 ? branches[0] : .alternate(branches)
    }

    mutating func concatenation(depth: Int) throws(FilterPatternError) -> Node {
        var items: [Node] = []
        while i < s.count, s[i] != "|", s[i] != ")" {
            var atom = try self.atom(depth: depth)
            while i < s.count, let rep = try repetition() { atom = .repeated(atom, min: rep.min, max: rep.max) }
            items.append(atom)
        }
        return items.isEmpty ? .empty : items.count == 1 ? items[0] : .concat(items)
    }

    mutating func atom(depth: Int) throws(FilterPatternError) -> Node {
        let c = s[i]
        switch c {
        case "(":
            // Nesting is bounded by the pattern's length (256), so recursion depth is too.
            i += 1
            let inner = try alternation(depth: depth + 1)
            guard i < s.count, s[i] == ")" else { throw fail(.unbalancedParenthesis) }
            i += 1
            return inner
        case ")": throw fail(.unbalancedParenthesis)
        case "*", "+", "?", "{": throw fail(.nothingToRepeat)
        case ".":
            i += 1
            return .test(.any)
        case "[": return .test(try characterClass())
        case "\\":
            i += 1
            return .test(try escape())
        default:
            i += 1
            return .test(.literal(c))
        }
    }

    /// `*`, `+`, `?` or a count at `i`, consumed; nil when none is there.
    mutating func repetition() throws(FilterPatternError) -> (min: Int, max: Int?)? {
        switch s[i] {
        case "*": i += 1; return (0, nil)
        case "+": i += 1; return (1, nil)
        case "?": i += 1; return (0, 1)
        case "{":
            i += 1
            let lo = try number()
            var hi: Int? = lo
            if i < s.count, s[i] == "," {
                i += 1
                hi = i < s.count && s[i] != "}" ? try number() : nil as Int?
            }
            guard i < s.count, s[i] == "}", let lo, lo <= 100, hi.map({ $0 >= lo && $0 <= 100 }) ?? true else {
                throw fail(.badCount)
            }
            i += 1
            return (lo, hi)
        default: return nil
        }
    }

    mutating func number() throws(FilterPatternError) -> Int? {
        var n = 0
        var digits = 0
        while i < s.count, (48...57).contains(s[i].value) {
            n = n * 10 + Int(s[i].value - 48)
            digits += 1
            i += 1
            if digits > 3 { throw fail(.badCount) }
        }
        return digits == 0 ? nil : n
    }

    mutating func escape() throws(FilterPatternError) -> ScalarTest {
        guard i < s.count else { throw fail(.trailingBackslash) }
        let c = s[i]
        i += 1
        switch c {
        case "d": return ScalarTest(ranges: [0x30...0x39], negated: false)
        case "w": return ScalarTest(ranges: [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A], negated: false)
        case "s": return ScalarTest(ranges: [0x09...0x0D, 0x20...0x20], negated: false)
        default:
            guard "\\.[]()|*+?{}^$-".unicodeScalars.contains(c) else { i -= 1; throw fail(.badEscape) }
            return .literal(c)
        }
    }

    mutating func characterClass() throws(FilterPatternError) -> ScalarTest {
        let start = i
        i += 1
        var test = ScalarTest(ranges: [], negated: false)
        if i < s.count, s[i] == "^" {
            test.negated = true
            i += 1
        }
        var first = true
        while true {
            guard i < s.count else { i = start; throw fail(.unterminatedClass) }
            if s[i] == "]", !first { break }
            first = false
            let lo = try classScalar()
            if i + 1 < s.count, s[i] == "-", s[i + 1] != "]" {
                i += 1
                let hi = try classScalar()
                guard lo.value <= hi.value else { throw fail(.badRange) }
                test.ranges.append(lo.value...hi.value)
            } else {
                test.ranges.append(lo.value...lo.value)
            }
        }
        i += 1
        return test
    }

    mutating func classScalar() throws(FilterPatternError) -> Unicode.Scalar {
        var c = s[i]
        i += 1
        if c == "\\" {
            guard i < s.count else { throw fail(.trailingBackslash) }
            c = s[i]
            guard "\\.[]()|*+?{}^$-".unicodeScalars.contains(c) else { throw fail(.badEscape) }
            i += 1
        }
        return c
    }
}

// MARK: - compiling

private struct Compiler {
    var program: [Instruction] = []

    mutating func append(_ i: Instruction) throws(FilterPatternError) {
        guard program.count < FilterPattern.maxProgramSize else {
            throw FilterPatternError(position: 0, reason: .tooComplex)
        }
        program.append(i)
    }

    mutating func emit(_ node: Node) throws(FilterPatternError) {
        switch node {
        case .empty: break
        case .test(let t): try append(.scalar(t))
        case .concat(let items):
            for item in items { try emit(item) }
        case .alternate(let branches):
            // split L1, next; L1: branch; jump end; next: split L2, ...
            var jumps: [Int] = []
            for (k, branch) in branches.enumerated() {
                if k < branches.count - 1 {
                    let split = program.count
                    try append(.split(split + 1, -1))
                    try emit(branch)
                    jumps.append(program.count)
                    try append(.jump(-1))
                    program[split] = .split(split + 1, program.count)
                } else {
                    try emit(branch)
                }
            }
            for j in jumps { program[j] = .jump(program.count) }
        case .repeated(let inner, let lo, let hi):
            for _ in 0..<lo { try emit(inner) }
            if let hi {
                // Each optional copy: split into it or past all remaining copies.
                var splits: [Int] = []
                for _ in lo..<hi {
                    splits.append(program.count)
                    try append(.split(program.count + 1, -1))
                    try emit(inner)
                }
                for sp in splits { program[sp] = .split(sp + 1, program.count) }
            } else {
                // L: split body, end; body; jump L
                let loop = program.count
                try append(.split(loop + 1, -1))
                try emit(inner)
                try append(.jump(loop))
                program[loop] = .split(loop + 1, program.count)
            }
        }
    }
}
