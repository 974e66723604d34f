public import NIOCore

/// The keyring operations a cluster runs on every member (`serf keys`). The raw value is the
/// request's first byte; a value is never reused. Printed by case name (`install`...), the
/// `operation` label of `gossip_key_operations_total`.
public enum KeyOperation: UInt8, Sendable, Hashable, CaseIterable {
    case install = 1
    /// Make an installed key the primary.
    case use = 2
    case remove = 3
    case list = 4

    /// The internal query that carries this operation to every member: `_grapevine-key-install`...
    /// Names under `_grapevine-` are answered by the runtime and never shown to users.
    public var queryName: String { "_grapevine-key-\(self)" }
}

extension Keyring {
    /// Applies what a key query asks, all or nothing: the one rule the runtime and the
    /// simulator both follow. Throws what `install`, `use` and `remove` throw.
    public mutating func apply(_ request: KeyRequest) throws(KeyringError) {
        switch request {
        case .install(let k): try install(k)
        case .use(let k): try use(k)
        case .remove(let k): try remove(k)
        case .list: break
        }
    }
}

/// What one member is asked to do with its keyring: the payload of an internal key query.
///
/// `[operation u8][key: 32 bytes]`; `list` has no key (Docs/WIRE-FORMAT.md, "Key commands").
/// The key travels as raw bytes inside the query, sealed like every packet under the asker's
/// primary key.
public enum KeyRequest: Sendable, Hashable {
    case install(SecretKey)
    case use(SecretKey)
    case remove(SecretKey)
    case list

    public var operation: KeyOperation {
        switch self {
        case .install: .install
        case .use: .use
        case .remove: .remove
        case .list: .list
        }
    }

    public var key: SecretKey? {
        switch self {
        case .install(let k), .use(let k), .remove(let k): k
        case .list: nil
        }
    }

    /// 1 byte, plus 32 with a key.
    public var encodedSize: Int { 1 + (key == nil ? 0 : SecretKey.size) }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(operation.rawValue)
        guard let key else { return }
        key.withUnsafeBytes { _ = buffer.writeBytes(UnsafeBufferPointer(start: $0, count: SecretKey.size)) }
    }

    /// Decodes a request that fills the whole of `buffer`. Throws `unknownKeyOperation`,
    /// `truncated` (no operation, or fewer than 32 key bytes), `bodyLengthMismatch` (bytes after
    /// the request, a key after `list` among them).
    public static func decode(_ buffer: inout ByteBuffer) throws(WireError) -> KeyRequest {
        guard let raw = buffer.readInteger(as: UInt8.self) else { throw .truncated }
        guard let operation = KeyOperation(rawValue: raw) else { throw .unknownKeyOperation(raw) }
        let request: KeyRequest
        if operation == .list {
            request = .list
        } else {
            guard let bytes = buffer.readSlice(length: SecretKey.size),
                let key = try? SecretKey(bytes: bytes.readableBytesView)
            else { throw .truncated }
            switch operation {
            case .install: request = .install(key)
            case .use: request = .use(key)
            default: request = .remove(key)
            }
        }
        if buffer.readableBytes > 0 { throw .bodyLengthMismatch }
        return request
    }
}

/// One member's answer to a `KeyRequest`: whether it applied it (and if not, why), and its keys
/// after the operation, primary first, by fingerprint.
///
/// `[flags u8: bit 0 failed, bit 1 truncated][message length u8][message UTF-8][key count u8]
/// [count × 8-byte fingerprint]` (Docs/WIRE-FORMAT.md, "Key commands"). Fingerprints rather
/// than keys, so that listing a keyring never sends key material: Serf's list answers carry every
/// installed key, sealed under the current primary, so a list taken mid-rotation hands the new
/// key to whoever holds the old one. The operator who installs a key holds it and can compute
/// its fingerprint.
public struct KeyResponse: Sendable, Hashable {
    /// The longest encoding, Serf's query response limit.
    public static let maxSize = 1024
    /// The longest message, in UTF-8 bytes.
    public static let maxMessageLength = 255
    static let failedFlag: UInt8 = 1
    static let truncatedFlag: UInt8 = 2

    /// The operation was applied (or was already in effect: installing a key held already).
    public private(set) var ok: Bool
    /// Why it failed, in words; empty when it worked. From outside: escape it before printing
    /// (`Limits.escaped`).
    public private(set) var message: String
    /// The responder's keys, primary first.
    public private(set) var keys: [KeyFingerprint]
    /// Keys were left off the end to keep the response within `maxSize`.
    public private(set) var truncated: Bool

    /// A response that fits `limit` bytes (at most `maxSize`, at least the 3 fixed bytes):
    /// `message` cut to `maxMessageLength` bytes (and to what the limit leaves) at a character
    /// boundary, and keys that do not fit left off from the end (the primary last), with
    /// `truncated` set. A responder passes its own answer limit (`Settings.queryResponseSizeLimit`).
    public init(ok: Bool, message: String = "", keys: [KeyFingerprint], limit: Int = KeyResponse.maxSize) {
        let limit = max(3, min(limit, Self.maxSize))
        var cut = ""
        var length = 0
        for u in message.unicodeScalars {
            length += UTF8.width(u)
            if length > min(Self.maxMessageLength, limit - 3) { break }
            cut.unicodeScalars.append(u)
        }
        let room = min(Int(UInt8.max), (limit - 3 - cut.utf8.count) / KeyFingerprint.size)
        self.init(ok: ok, message: cut, keys: Array(keys.prefix(room)), truncated: keys.count > room)
    }

    private init(ok: Bool, message: String, keys: [KeyFingerprint], truncated: Bool) {
        self.ok = ok
        self.message = message
        self.keys = keys
        self.truncated = truncated
    }

    public var primary: KeyFingerprint? { keys.first }

    public var encodedSize: Int { 3 + message.utf8.count + KeyFingerprint.size * keys.count }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger((ok ? 0 : Self.failedFlag) | (truncated ? Self.truncatedFlag : 0))
        buffer.writeInteger(UInt8(message.utf8.count))
        buffer.writeString(message)
        buffer.writeInteger(UInt8(keys.count))
        for k in keys { buffer.writeInteger(k.rawValue) }
    }

    /// Decodes a response that fills the whole of `buffer`. Throws `truncated`,
    /// `invalidMessageFlags` (bits other than failed and truncated), `invalidUTF8`,
    /// `countTooLarge` (more keys than `maxSize` holds), `bodyLengthMismatch` (bytes after the
    /// last key).
    public static func decode(_ buffer: inout ByteBuffer) throws(WireError) -> KeyResponse {
        guard let flags = buffer.readInteger(as: UInt8.self) else { throw .truncated }
        if flags & ~(failedFlag | truncatedFlag) != 0 { throw .invalidMessageFlags(flags) }
        guard let length = buffer.readInteger(as: UInt8.self) else { throw .truncated }
        let message = try buffer.readUTF8(length: Int(length))
        guard let count = buffer.readInteger(as: UInt8.self) else { throw .truncated }
        // Every response value encodes within maxSize, as the sender's init guarantees.
        if 3 + Int(length) + Int(count) * KeyFingerprint.size > maxSize { throw .countTooLarge(UInt64(count)) }
        if Int(count) * KeyFingerprint.size > buffer.readableBytes { throw .truncated }
        var keys: [KeyFingerprint] = []
        keys.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let raw = buffer.readInteger(as: UInt64.self) else { throw .truncated }
            keys.append(KeyFingerprint(rawValue: raw))
        }
        if buffer.readableBytes > 0 { throw .bodyLengthMismatch }
        return KeyResponse(
            ok: flags & failedFlag == 0, message: message, keys: keys, truncated: flags & truncatedFlag != 0)
    }
}
