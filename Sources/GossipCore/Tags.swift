/// A member's tags: small key/value strings every member sees (role, datacenter, VTEP...).
///
/// Kept sorted by key so that encoding and comparison never depend on hash order.
public struct Tags: Hashable, Sendable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    public private(set) var pairs: [(key: String, value: String)]

    public init() { pairs = [] }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements.map { (key: $0.0, value: $0.1) })
    }

    public init(_ elements: some Sequence<(key: String, value: String)>) {
        pairs = []
        for (k, v) in elements { self[k] = v }
    }

    public subscript(key: String) -> String? {
        get {
            let i = insertionIndex(key)
            return i < pairs.count && pairs[i].key == key ? pairs[i].value : nil
        }
        set {
            let i = insertionIndex(key)
            let present = i < pairs.count && pairs[i].key == key
            switch (present, newValue) {
            case (true, let v?): pairs[i].value = v
            case (true, nil): pairs.remove(at: i)
            case (false, let v?): pairs.insert((key: key, value: v), at: i)
            case (false, nil): break
            }
        }
    }

    private func insertionIndex(_ key: String) -> Int {
        var lo = 0
        var hi = pairs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if pairs[mid].key < key { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    public var isEmpty: Bool { pairs.isEmpty }
    public var count: Int { pairs.count }

    public func makeIterator() -> IndexingIterator<[(key: String, value: String)]> { pairs.makeIterator() }

    public static func == (a: Tags, b: Tags) -> Bool {
        a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(pairs.count)
        for (k, v) in pairs {
            hasher.combine(k)
            hasher.combine(v)
        }
    }

    public var description: String {
        "[" + pairs.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "]"
    }
}
