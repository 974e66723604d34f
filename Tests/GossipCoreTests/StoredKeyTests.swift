@testable import GossipCore
import Testing

/// A replica holds lowercase hexadecimal keys as nibbles (`ReplicatedState.StoredKey`): every
/// key must come back as written, and two keys must be equal as stored exactly when they are
/// equal as text, or rows would merge or split.
@Suite struct StoredKeyTests {
    static let alphabets: [[UInt8]] = [Array("0123456789abcdef".utf8), Array("0123456789abcdefABCDEFgz-/ é".utf8)]

    @Test(arguments: [1, 2, 3] as [UInt64])
    func everyKeyComesBackAsWrittenAndEqualityFollowsTheText(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var keys: [String] = ["0", "00", "000", "a", "f", String(repeating: "f", count: 32), String(repeating: "0", count: 32),
                              String(repeating: "0", count: 33), "0A", "g", "01-02"]
        for _ in 0..<2_000 {
            let alphabet = Self.alphabets[rng.index(below: 2)]
            let length = 1 + rng.index(below: 40)
            let bytes = (0..<length).map { _ in alphabet[rng.index(below: alphabet.count)] }
            keys.append(String(decoding: bytes, as: UTF8.self))
        }
        for key in keys {
            let stored = ReplicatedState.StoredKey(key)
            #expect(stored.text == key)
            if key.utf8.count <= 32, key.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) {
                guard case .hex = stored else {
                    Issue.record("\(key) is held as text")
                    continue
                }
            } else if case .hex = stored {
                Issue.record("\(key) is held as nibbles")
            }
        }
        for _ in 0..<5_000 {
            let a = keys[rng.index(below: keys.count)]
            let b = keys[rng.index(below: keys.count)]
            #expect((ReplicatedState.StoredKey(a) == ReplicatedState.StoredKey(b)) == (a == b), "\(a) against \(b)")
        }
        // Keys that differ only in leading zeros or length are different keys.
        #expect(ReplicatedState.StoredKey("0") != ReplicatedState.StoredKey("00"))
        #expect(ReplicatedState.StoredKey("01") != ReplicatedState.StoredKey("1"))
    }
}
