/// A name shared by the nodes of one cluster. Sealed packets and frames authenticate it as
/// additional data (it never travels), plaintext ones carry it; either way a packet from a
/// cluster with another label is refused, even when the clusters share a key.
public struct ClusterLabel: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public static let none = ClusterLabel(validated: [])

    private init(validated: [UInt8]) { bytes = validated }

    /// Nil when longer than `WireLimits.maxLabelLength` bytes of UTF-8.
    public init?(_ text: String) {
        let utf8 = Array(text.utf8)
        guard utf8.count <= WireLimits.maxLabelLength else { return nil }
        self.init(validated: utf8)
    }

    public var isEmpty: Bool { bytes.isEmpty }
    public var description: String { String(decoding: bytes, as: UTF8.self) }
}
