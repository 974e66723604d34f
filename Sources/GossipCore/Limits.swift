/// Bounds on what a node accepts from outside (the network, a snapshot file, a caller), in one
/// place, so that the core, the codec and the shells agree. What breaks a bound is refused and
/// counted (`Refusal`), never trapped on: an overflow reachable from the network is a remote kill.
public enum Limits {
    /// The highest incarnation a node adopts, far below `UInt64.max` so that arithmetic on it
    /// can never overflow.
    ///
    /// A member must always be able to outlive what is said about it, so: an `alive` is taken
    /// up to this value; a `suspect` or `dead` only below it (the accused refutes at one more);
    /// a claim about this node itself only below it. Honest members add one per refutation or
    /// tag change, so they never come near it; only a forged or corrupt value does.
    public static let maxIncarnation: UInt64 = 1 << 62

    /// Member names are 1 to this many bytes of UTF-8.
    public static let maxNameLength = 128
    /// Tags ride in every alive message, so they must stay small next to the 1,400-byte datagram.
    public static let maxTagCount = 64
    public static let maxTagStringLength = 512
    /// The whole encoded tag block (count and strings) a receiver accepts. What a node may set
    /// is `Settings.tagsSizeLimit`, at most this.
    public static let maxTagsSize = 16 << 10

    /// User event and query names are 1 to this many bytes (the name rule of `isValidName`).
    public static let maxEventNameLength = 128
    /// The longest payload a receiver accepts, whatever the settings: the largest UDP datagram.
    /// What a node sends is bounded by `Settings.userEventSizeLimit` and the query limits.
    public static let maxPayloadSize = 65_507
    /// Filters in one query, and node names in one node filter.
    public static let maxQueryFilters = 16
    public static let maxFilterNodes = 256

    /// Whether `name` may name a member: 1 to `maxNameLength` bytes of UTF-8, none of them a
    /// control character (Unicode category Cc), a line or paragraph separator, or a
    /// bidirectional override or isolate. Such characters would let a name forge or reorder
    /// lines of output on every node that prints it. Spaces and other printable text are fine.
    /// The longest replicated-state key any node accepts, in bytes of UTF-8.
    public static let maxStateKeyLength = 512

    /// Whether `key` may name a row: 1 to `maxStateKeyLength` bytes of UTF-8, under the
    /// printable rule of names.
    public static func isValidStateKey(_ key: String) -> Bool {
        let n = key.utf8.count
        return n > 0 && n <= maxStateKeyLength && isPrintable(key)
    }

    public static func isValidName(_ name: String) -> Bool {
        let n = name.utf8.count
        return n > 0 && n <= maxNameLength && isPrintable(name)
    }

    /// Tag keys follow the name rule, with the wire's longer limit; values may hold any text
    /// (they are escaped wherever they are printed).
    public static func isValidTagKey(_ key: String) -> Bool {
        let n = key.utf8.count
        return n > 0 && n <= maxTagStringLength && isPrintable(key)
    }

    /// `s` with every character that `isValidName` forbids written as `\u{XX}`, so that text
    /// from outside can be logged or printed without forging or reordering lines.
    public static func escaped(_ s: String) -> String {
        if isPrintable(s) { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 8)
        for u in s.unicodeScalars {
            if isForbidden(u) {
                out += "\\u{" + String(u.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    static func isPrintable(_ s: String) -> Bool {
        // Fast path: printable ASCII, the shape of nearly every name.
        var ascii = true
        for b in s.utf8 where b < 0x20 || b >= 0x7f {
            ascii = false
            break
        }
        if ascii { return true }
        for u in s.unicodeScalars where isForbidden(u) { return false }
        return true
    }

    static func isForbidden(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x00...0x1f, 0x7f...0x9f: true  // C0, DEL, C1 controls
        case 0x2028, 0x2029: true  // line and paragraph separators
        case 0x200e, 0x200f, 0x061c: true  // directional marks
        case 0x202a...0x202e, 0x2066...0x2069: true  // bidi embeddings, overrides, isolates
        default: false
        }
    }
}

/// Why the core refused something that arrived from outside. Each refusal is counted in
/// `Counters.refusals` and reported once per input as `Output.refused`.
public enum Refusal: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    /// An incarnation above `Limits.maxIncarnation`, or an accusation its target could not outlive.
    case incarnationOutOfRange
    /// A member name or tag key that breaks `Limits.isValidName`.
    case invalidName
    /// An address this node cannot send to: another family, port 0, unspecified, multicast,
    /// broadcast, link-local, or loopback while this node is not on loopback.
    case unusableAddress
    /// A new member while the table holds `Settings.maxMembers` live members.
    case tableFull
    /// A new member beyond `Settings.maxMembersLearnedPerExchange` in one push/pull.
    case exchangeLimit
    /// A request beyond the one per datagram that buys a reply (pings, indirect pings), or an
    /// indirect probe beyond the bound on relays in flight.
    case excessRequests
    /// An indirect probe for a member this node does not know as live.
    case unknownRelayTarget
    /// A second live claim on a member name, at another address.
    case nameConflict
    /// A query whose asker is not a live member at the address it names: answering would let
    /// a forged query aim replies at a third party.
    case unknownQueryOrigin
    /// A query asking for a longer timeout than `Settings.maxQueryTimeout`, or more relays
    /// than `QueryRequest.maxRelayFactor`.
    case queryOutOfRange
    /// A Lamport time at or above `LamportClock.ceiling`.
    case lamportTimeOutOfRange
    /// A payload over `Limits.maxPayloadSize`, or filters over `Limits.maxQueryFilters`.
    case tooLarge

    public var description: String {
        switch self {
        case .incarnationOutOfRange: "incarnation_out_of_range"
        case .invalidName: "invalid_name"
        case .unusableAddress: "unusable_address"
        case .tableFull: "table_full"
        case .exchangeLimit: "exchange_limit"
        case .excessRequests: "excess_requests"
        case .unknownRelayTarget: "unknown_relay_target"
        case .nameConflict: "name_conflict"
        case .unknownQueryOrigin: "unknown_query_origin"
        case .queryOutOfRange: "query_out_of_range"
        case .lamportTimeOutOfRange: "lamport_time_out_of_range"
        case .tooLarge: "too_large"
        }
    }
}

/// Refusals by reason. A fixed array indexed by the raw value: counting never allocates.
public struct Refusals: Sendable, Equatable {
    private var counts = [Int](repeating: 0, count: Refusal.allCases.count)

    public init() {}

    public subscript(reason: Refusal) -> Int {
        get { counts[Int(reason.rawValue)] }
        set { counts[Int(reason.rawValue)] = newValue }
    }

    public var total: Int { counts.reduce(0, +) }

    /// Reasons with a non-zero count, in declaration order.
    public var nonZero: [(reason: Refusal, count: Int)] {
        Refusal.allCases.compactMap { r in self[r] > 0 ? (r, self[r]) : nil }
    }
}
