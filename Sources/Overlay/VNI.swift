/// A VXLAN network identifier: 24 bits on the wire (RFC 7348 §5), so 0 ... 16,777,215.
public struct VNI: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let range: ClosedRange<UInt32> = 0...0xFF_FFFF

    public let value: UInt32

    /// nil when `value` does not fit in 24 bits.
    public init?(_ value: UInt32) {
        guard Self.range.contains(value) else { return nil }
        self.value = value
    }

    public static func < (a: VNI, b: VNI) -> Bool { a.value < b.value }

    public var description: String { String(value) }
}
