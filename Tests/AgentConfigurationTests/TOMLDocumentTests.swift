import struct GrapevineTestSupport.SplitMix
@testable import OverlayAgent
import Testing

struct TOMLDocumentTests {
    typealias Value = TOMLDocument.Value

    @Test func theConfigurationFileShapeParses() throws {
        let doc = try TOMLDocument(parsing: """
            # comment
            name = "host-a"   # trailing comment
            'quoted key' = 'C:\\path'
            "esc" = "tab\\there \\"q\\" \\u00e9\\U0001F600"
            n = -1_000
            hex = 0xff
            oct = 0o17
            bin = 0b101
            yes = true
            join = [
              "10.0.0.2",  # the first
              "10.0.0.3:7946",
            ]
            nested = [[1, 2], []]
            inline = { role = "web", rack = "r12" }

            [tags]
            role = "web"

            [[network]]
            name = "blue"
            vni = 100

            [[network]]
            name = "red"
            vni = 200\r
            """)
        let r = doc.root
        #expect(r.keys == ["name", "quoted key", "esc", "n", "hex", "oct", "bin", "yes", "join", "nested", "inline", "tags", "network"])
        #expect(r["name"] == .string("host-a"))
        #expect(r["quoted key"] == .string("C:\\path"))
        #expect(r["esc"] == .string("tab\there \"q\" é😀"))
        #expect(r["n"] == .integer(-1000))
        #expect(r["hex"] == .integer(255) && r["oct"] == .integer(15) && r["bin"] == .integer(5))
        #expect(r["yes"] == .boolean(true))
        #expect(r["join"] == .array([.string("10.0.0.2"), .string("10.0.0.3:7946")]))
        #expect(r["nested"] == .array([.array([.integer(1), .integer(2)]), .array([])]))
        guard case .table(let inline)? = r["inline"], case .table(let tags)? = r["tags"], case .array(let networks)? = r["network"] else {
            Issue.record("tables missing: \(r)")
            return
        }
        #expect(inline.keys == ["role", "rack"] && inline["rack"] == .string("r12"))
        #expect(tags["role"] == .string("web"))
        #expect(networks.count == 2)
        if case .table(let red) = networks[1] { #expect(red["vni"] == .integer(200)) } else { Issue.record("not a table") }
        #expect(try TOMLDocument(parsing: "n = \(Int.min)").root["n"] == .integer(Int.min))
    }

    @Test(arguments: [
        ("a = 1\na = 2", "given twice", 2, 1),
        ("[t]\nx = 1\n[t]", "already defined", 3, 1),
        ("a = 9223372036854775808", "out of range", 1, 5),
        ("a = -9223372036854775809", "out of range", 1, 5),
        ("a = 1.5", "floats and dates", 1, 5),
        ("a = 1979-05-27", "floats and dates", 1, 5),
        ("a.b = 1", "dotted keys", 1, 2),
        ("a = \"\"\"x\"\"\"", "multi-line", 1, 5),
        ("a = \"open\nb = 1", "not closed", 1, 5),
        ("a = [1, 2\nb = 3", "expected ',' or ']'", 2, 1),
        ("a = [1,\n 2", "array not closed", 1, 5),
        ("a = \"\\q\"", "unknown escape", 1, 6),
        ("a = \"\\uD800\"", "not a Unicode scalar", 1, 6),
        ("a = 1 b = 2", "end of the line", 1, 7),
        ("a = ", "expected a value", 1, 5),
        ("a = 1__0", "between digits", 1, 7),
        ("a = 1_", "expected a value", 1, 5),
        ("a = -0x1", "sign is not allowed", 1, 5),
        ("a = maybe", "expected a value", 1, 5),
        ("= 1", "expected a key", 1, 1),
        ("[[n]]\n[n]", "already defined", 2, 1),
        ("n = 1\n[[n]]", "already defined", 2, 1),
        ("a = { b = 1,\n c = 2 }", "one line", 1, 13),
        ("a = { b = 1 c = 2 }", "expected ',' or '}'", 1, 13),
    ])
    func faultsAreNamedWithTheirPlace(text: String, reason: String, line: Int, column: Int) {
        do {
            let doc = try TOMLDocument(parsing: text)
            Issue.record("parsed \(text.debugDescription) as \(doc.root)")
        } catch {
            #expect(error.reason.contains(reason), "\(error)")
            #expect(error.line == line && error.column == column, "\(error)")
        }
    }

    @Test func nestingIsBounded() {
        let deep = "a = " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: TOMLDocument.ParseError.self) { try TOMLDocument(parsing: deep) }
        let ok = "a = " + String(repeating: "[", count: TOMLDocument.maximumDepth) + String(repeating: "]", count: TOMLDocument.maximumDepth)
        #expect(throws: Never.self) { try TOMLDocument(parsing: ok) }
    }

    /// Mutations of a real configuration file: each one parses or is refused; none traps.
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func mutatedFilesNeverTrap(seed: UInt64) {
        var rng = SplitMix(seed: seed)
        let base = Array(AgentConfigurationTests.example.utf8)
        let alphabet = Array("[]{}=\"',#\n\\._-+0x9azU ".utf8) + [0x00, 0xFF, 0xC3]
        var parsed = 0
        var refused = 0
        for _ in 0..<5_000 {
            var bytes = base
            for _ in 0..<Int(rng.next() % 4 + 1) {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
                default: bytes.remove(at: at)
                }
            }
            do {
                _ = try TOMLDocument(parsing: String(decoding: bytes, as: UTF8.self))
                parsed += 1
            } catch {
                refused += 1
            }
        }
        // Both outcomes occur: the mutations reach past the first byte of the parser.
        #expect(parsed > 0 && refused > 0, "parsed \(parsed), refused \(refused)")
    }
}
