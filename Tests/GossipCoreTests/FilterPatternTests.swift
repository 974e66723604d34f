import Testing
@testable import GossipCore

@Suite struct FilterPatternTests {
    @Test(arguments: [
        ("web-[0-9]+", "web-12", true), ("web-[0-9]+", "web-", false), ("web", "web-1", false),
        ("web.*", "web-1", true), ("web.*", "cobweb", false), ("a|b|c", "b", true), ("(ab)*c", "ababc", true),
        ("(ab)*c", "abac", false), ("x{2,3}", "xx", true), ("x{2,3}", "xxxx", false), ("x{2,}", "xxxxx", true),
        ("x{2}", "xx", true), ("[^a-c]", "d", true), ("[^a-c]", "b", false), ("\\d\\w\\s", "1_ ", true),
        ("a\\.b", "a.b", true), ("a\\.b", "axb", false), ("[a\\-z]", "-", true), ("[-a]", "-", true),
        ("", "", true), ("", "a", false), ("dc=(east|west)-[12]", "dc=west-2", true), ("é.", "éa", true),
        ("(a*)*b", "aaab", true), ("a??", "", true), ("[]a]", "]", true),
    ])
    func matchesTheWholeString(pattern: String, text: String, expected: Bool) throws {
        #expect(try FilterPattern(pattern).matches(text) == expected, "\(pattern) on \(text)")
    }

    @Test(arguments: [
        ("(a", FilterPatternError.Reason.unbalancedParenthesis), ("a)", .unbalancedParenthesis),
        ("*a", .nothingToRepeat), ("a|+", .nothingToRepeat), ("[abc", .unterminatedClass), ("[z-a]", .badRange),
        ("\\q", .badEscape), ("a\\", .trailingBackslash), ("a{3,1}", .badCount), ("a{101}", .badCount),
        ("a{1", .badCount), ("a{x}", .badCount), ("(a{100}){100}", .tooComplex),
        (String(repeating: "a", count: 257), .tooLong),
    ])
    func aMalformedPatternIsRefusedWithItsReason(pattern: String, reason: FilterPatternError.Reason) {
        #expect { try FilterPattern(pattern) } throws: { ($0 as? FilterPatternError)?.reason == reason }
    }

    /// The pattern that makes a backtracking engine take exponential time: here, one pass.
    @Test func aCatastrophicBacktrackingPatternRunsInLinearSteps() throws {
        let p = try FilterPattern("(a+)+(b+)+(c*)*d")
        #expect(!p.matches(String(repeating: "a", count: 5_000) + String(repeating: "b", count: 5_000)))
        #expect(p.matches(String(repeating: "a", count: 5_000) + "bd"))
    }

    /// Random patterns of the supported syntax agree with Swift's own `Regex` (`wholeMatch`)
    /// on random strings: the same language, by another engine.
    @Test(arguments: 0..<40 as Range<UInt64>)
    func agreesWithSwiftRegexOnRandomPatterns(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<25 {
            let pattern = Self.randomPattern(depth: 0, using: &rng)
            let ours = try FilterPattern(pattern)
            let theirs = try Regex(pattern)
            for _ in 0..<40 {
                let text = String((0..<Int.random(in: 0...8, using: &rng)).map { _ in "abc-".randomElement(using: &rng)! })
                let expected = (try? theirs.wholeMatch(in: text)) != nil
                #expect(ours.matches(text) == expected, "seed \(seed): /\(pattern)/ on \"\(text)\"")
            }
        }
    }

    static func randomPattern(depth: Int, using rng: inout SeededGenerator) -> String {
        var out = ""
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            var atom: String
            switch Int.random(in: 0..<(depth < 2 ? 7 : 5), using: &rng) {
            case 0, 1: atom = String("abc".randomElement(using: &rng)!)
            case 2: atom = "."
            case 3: atom = ["[ab]", "[^a]", "[a-c]", "\\-"].randomElement(using: &rng)!
            case 4: atom = "a"
            case 5: atom = "(" + randomPattern(depth: depth + 1, using: &rng) + ")"
            default: atom = "(" + randomPattern(depth: depth + 1, using: &rng) + "|" + randomPattern(depth: depth + 1, using: &rng) + ")"
            }
            if Bool.random(using: &rng) { atom += ["*", "+", "?", "{1,2}", "{2}", "{0,}"].randomElement(using: &rng)! }
            out += atom
        }
        return out
    }
}

@Suite struct LamportClockTests {
    @Test func stampsIncreaseAndWitnessingMovesPastWhatWasSeen() {
        var clock = LamportClock()
        #expect(clock.stamp() == 0)
        #expect(clock.stamp() == 1)
        clock.witness(10)
        #expect(clock.stamp() == 11, "a stamp made after seeing 10 is later than 10")
        clock.witness(3)
        #expect(clock.stamp() == 12, "an older time does not move the clock back")
    }

    @Test func timesAtTheCeilingAreNotAdmittedAndTheClockNeverWraps() {
        #expect(LamportClock.admits(LamportClock.ceiling - 1))
        #expect(!LamportClock.admits(LamportClock.ceiling))
        #expect(!LamportClock.admits(.max))
        var clock = LamportClock()
        clock.witness(.max)
        #expect(clock.next == 0, "a time that was not admitted is ignored")
        clock.witness(LamportClock.ceiling - 1)
        #expect(clock.next == LamportClock.ceiling)
        #expect(clock.stamp() == nil, "at the ceiling nothing more is stamped")
        #expect(LamportClock(next: .max).next == LamportClock.ceiling)
    }
}

@Suite struct RecentStampsTests {
    @Test func eachStampIsNewOnceAndADuplicateAfterwards() {
        var seen = RecentStamps(window: 8)
        #expect(seen.record(time: 5, origin: "a") == .new)
        #expect(seen.record(time: 5, origin: "b") == .new, "another origin at the same time is another item")
        #expect(seen.record(time: 5, origin: "a") == .duplicate)
        #expect(seen.contains(time: 5, origin: "b"))
    }

    @Test func stampsOlderThanTheWindowOrTheFloorAreTooOld() {
        var seen = RecentStamps(window: 8, floor: 3)
        #expect(seen.record(time: 2, origin: "a") == .tooOld)
        #expect(seen.record(time: 20, origin: "a") == .new)
        #expect(seen.record(time: 12, origin: "a") == .tooOld, "20 - 8: out of the window")
        #expect(seen.record(time: 13, origin: "a") == .new)
        seen.raiseFloor(to: 19)
        #expect(seen.record(time: 18, origin: "z") == .tooOld)
    }

    @Test func aSlotHoldsAtMostPerTimeOrigins() {
        var seen = RecentStamps(window: 4, perTime: 2)
        #expect(seen.record(time: 1, origin: "a") == .new)
        #expect(seen.record(time: 1, origin: "b") == .new)
        #expect(seen.record(time: 1, origin: "c") == .slotFull)
        #expect(seen.record(time: 1, origin: "a") == .duplicate)
    }

    /// Whatever order and however many copies arrive, each item inside the window is new exactly once.
    @Test(arguments: 0..<20 as Range<UInt64>)
    func copiesInAnyOrderAreDeliveredOnce(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        let items = (0..<200).map { (time: UInt64($0 / 3), origin: "n\($0 % 3)") }
        var copies = (items + items + items.shuffled(using: &rng)).shuffled(using: &rng)
        copies.sort { $0.time / 16 < $1.time / 16 }  // roughly in time order, as gossip delivers
        var seen = RecentStamps(window: 64)
        var delivered: [String: Int] = [:]
        for c in copies where seen.record(time: c.time, origin: c.origin) == .new {
            delivered["\(c.time)/\(c.origin)", default: 0] += 1
        }
        #expect(delivered.count == items.count && delivered.values.allSatisfy { $0 == 1 }, "seed \(seed)")
    }
}
