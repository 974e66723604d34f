/// Why a packet or frame was refused. Every decode failure is one of these, counted by reason.
public enum WireError: Error, Sendable, Hashable {
    case truncated
    case unsupportedVersion(UInt8)
    case malformed(String)
}
