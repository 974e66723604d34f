import GossipCore

/// Bounds the decoder enforces before it trusts a length or count from the network, so that a
/// hostile peer cannot make a node allocate, loop or store more than a well-behaved one would.
public enum WireLimits {
    /// The protocol version this build sends and accepts (see Docs/WIRE-FORMAT.md, "Versioning").
    public static let version: UInt8 = 1
    /// Names of members (and of accusers, requesters...).
    public static let maxNameLength = Member.maxNameLength
    /// Tag bounds: `Limits` in the core holds them, with the reasons.
    public static let maxTagCount = Limits.maxTagCount
    public static let maxTagStringLength = Limits.maxTagStringLength
    public static let maxTagsSize = Limits.maxTagsSize
    /// A cluster label is at most this many bytes of UTF-8 (it travels in a one-byte length).
    public static let maxLabelLength = 255
    /// The smallest possible encoded `MemberState` (empty name, IPv4, one-byte incarnation,
    /// status, zero tags); bounds member counts by the bytes actually present.
    static let smallestMemberState = 1 + 7 + 1 + 1 + 1
}
