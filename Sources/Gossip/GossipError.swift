public import GossipCore
public import GossipWire

/// What every public call of `Gossip` throws: a `code` to switch over, and the details that
/// belong to it (the seeds of a failed join, the setting that is out of range, the error a bind
/// ran into).
///
/// A struct rather than an enum, as ServiceLifecycle's `ServiceGroupError`: new codes come with
/// new features (a query that timed out, a payload too large) without breaking a `switch`.
/// Compare codes (`error.code == .joinFailed`), or whole errors for the codes without details
/// (`error == .notRunning`).
public struct GossipError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong. Extensible: switch over it with a `default` case.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case joinFailed, notRunning, alreadyStarted, bindFailed, invalidConfiguration, tagsTooLarge
            case nameConflict, invalidSeed, cancelled, invalidRequest
            case noKeyring, unknownKey, cannotRemovePrimary, keyringFull
            case storageFailed, invalidKey
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The join gave up (no seed answered before `joinTimeout` or `joinMaxAttempts` tries):
        /// `seeds` says what happened with each.
        public static let joinFailed = Code(.joinFailed)
        /// The node is not running: never started, leaving, left, or stopped.
        public static let notRunning = Code(.notRunning)
        /// `start` was called on a node that was already started (or stopped): a node runs once.
        public static let alreadyStarted = Code(.alreadyStarted)
        /// Binding the UDP socket or the TCP listener failed: `address`, `underlying`.
        public static let bindFailed = Code(.bindFailed)
        /// The configuration does not describe a node that can run: `setting`, `reason`.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// Tags over `Settings.tagsSizeLimit`, or with an invalid key.
        public static let tagsTooLarge = Code(.tagsTooLarge)
        /// A seed knows this node's name as a live member at another address (`name`,
        /// `heldAt`): the join is refused rather than fought over.
        public static let nameConflict = Code(.nameConflict)
        /// A seed string that is not `host[:port]`, or a host name that does not resolve:
        /// `seed`, `reason`.
        public static let invalidSeed = Code(.invalidSeed)
        /// The task that called `join` was cancelled.
        public static let cancelled = Code(.cancelled)
        /// A user event, query, answer or tags the node refuses: too large, a bad name or
        /// filter, a timeout out of range, a query no longer answerable (`reason`).
        public static let invalidRequest = Code(.invalidRequest)
        /// A key operation on a node that runs in plaintext (started without a keyring): it
        /// cannot start sealing at run time, since its peers would drop every packet (restart
        /// every member with a keyring).
        public static let noKeyring = Code(.noKeyring)
        /// `useKey` or `removeKey` of a key the keyring does not hold: `key`.
        public static let unknownKey = Code(.unknownKey)
        /// `removeKey` of the primary key, which seals every packet: `key`. Make another key
        /// primary first.
        public static let cannotRemovePrimary = Code(.cannotRemovePrimary)
        /// `installKey` on a keyring that holds `Keyring.maxKeys` keys: remove one first.
        public static let keyringFull = Code(.keyringFull)

        /// A file the node keeps (`snapshotPath`, `keyringPath`: `setting`) cannot be written
        /// or read at `start()`: `reason` says which and why.
        public static let storageFailed = Code(.storageFailed)
        /// A key that is not 32 bytes in base64 (`SecretKey(base64:)`): `reason`.
        public static let invalidKey = Code(.invalidKey)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// `joinFailed`: what happened with each seed, in the order given.
    public var seeds: [SeedFailure] = []
    /// `nameConflict`: the contested name; `invalidSeed`: the seed as given.
    public var name: String?
    /// `nameConflict`: where the cluster knows the name; `bindFailed`: the address to bind.
    public var address: Address?
    /// `invalidConfiguration`: the field or setting out of range.
    public var setting: String?
    /// `invalidConfiguration`, `invalidSeed`: why, in words.
    public var reason: String?
    /// `unknownKey`, `cannotRemovePrimary`: the key, by fingerprint.
    public var key: KeyFingerprint?
    /// `bindFailed`: the operating system's error. Not part of equality.
    public var underlying: (any Error & Sendable)?

    public init(code: Code) { self.code = code }

    public static let notRunning = GossipError(code: .notRunning)
    public static let alreadyStarted = GossipError(code: .alreadyStarted)
    public static let tagsTooLarge = GossipError(code: .tagsTooLarge)
    public static let cancelled = GossipError(code: .cancelled)

    public static func joinFailed(seeds: [SeedFailure]) -> GossipError {
        var e = GossipError(code: .joinFailed)
        e.seeds = seeds
        return e
    }

    public static func nameConflict(name: String, heldAt: Address) -> GossipError {
        var e = GossipError(code: .nameConflict)
        e.name = name
        e.address = heldAt
        return e
    }

    public static func invalidConfiguration(setting: String, reason: String) -> GossipError {
        var e = GossipError(code: .invalidConfiguration)
        e.setting = setting
        e.reason = reason
        return e
    }

    public static func storageFailed(setting: String, reason: String) -> GossipError {
        var e = GossipError(code: .storageFailed)
        e.setting = setting
        e.reason = reason
        return e
    }

    public static func bindFailed(address: Address, underlying: any Error & Sendable) -> GossipError {
        var e = GossipError(code: .bindFailed)
        e.address = address
        e.underlying = underlying
        e.reason = "\(underlying)"
        return e
    }

    public static func invalidSeed(_ seed: String, reason: String) -> GossipError {
        var e = GossipError(code: .invalidSeed)
        e.name = seed
        e.reason = reason
        return e
    }

    public static func invalidRequest(_ error: RequestError) -> GossipError {
        var e = GossipError(code: .invalidRequest)
        e.reason = "\(error)"
        e.underlying = error
        return e
    }

    public static func == (a: GossipError, b: GossipError) -> Bool {
        a.code == b.code && a.seeds == b.seeds && a.name == b.name && a.address == b.address
            && a.setting == b.setting && a.reason == b.reason && a.key == b.key
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(seeds)
        hasher.combine(name)
        hasher.combine(address)
        hasher.combine(setting)
        hasher.combine(reason)
        hasher.combine(key)
    }

    public var description: String {
        switch code {
        case .joinFailed:
            seeds.isEmpty
                ? "join failed: no seed given"
                : "join failed: " + seeds.map(\.description).joined(separator: "; ")
        case .notRunning: "the node is not running"
        case .alreadyStarted: "the node was already started; a node runs once, create a new one to restart"
        case .bindFailed: "cannot bind \(address.map { "\($0)" } ?? "?"): \(reason ?? "?")"
        case .invalidConfiguration: "invalid configuration: \(setting ?? "?") \(reason ?? "")"
        case .nameConflict:
            "the name \(Limits.escaped(name ?? "")) is held by a live member at \(address.map { "\($0)" } ?? "?"); choose another name, or join again once the cluster has declared that member failed"
        case .tagsTooLarge:
"tags exceed Settings.tagsSizeLimit (encoded: a count, then each key and value with its length), hold more than \(Limits.maxTagCount) pairs, or have an invalid key"
        case .invalidSeed: "invalid seed \(Limits.escaped(name ?? "")): \(reason ?? "?")"
        case .cancelled: "the join was cancelled"
        case .invalidRequest: "invalid request: \(reason ?? "?")"
        case .noKeyring:
            "the node runs in plaintext (no keyring) and cannot start sealing at run time; restart every member with a keyring"
        case .unknownKey: "key \(key.map { "\($0)" } ?? "?") is not installed"
        case .cannotRemovePrimary:
            "key \(key.map { "\($0)" } ?? "?") is the primary key; make another key primary first"
        case .storageFailed: "cannot keep \(setting ?? "a file"): \(reason ?? "?")"
        case .invalidKey: "invalid key: \(reason ?? "?")"
        case .keyringFull: "the keyring holds \(Keyring.maxKeys) keys already; remove one first"
        default: "gossip error \(code)"
        }
    }
}

extension GossipError {
    /// The core's verdict on `Settings`, as the one error type of the API.
    init(_ error: SettingsError) {
        self = .invalidConfiguration(setting: "settings.\(error.setting)", reason: error.reason)
    }
}

/// What happened with one seed of a join that failed.
public struct SeedFailure: Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        /// Nothing listens on the seed's TCP port (or a firewall rejects the connection).
        case connectionRefused
        /// The TCP connection did not come up, or the answer did not arrive, in time.
        case timedOut
        /// The seed accepted the connection and closed it without answering: the usual sign of
        /// another key or cluster label on the seed (its log says which).
        case closedWithoutAnswer
        /// The request went out, and no answer came back before the join gave up.
        case noAnswer
        /// This node cannot send to that address (another address family, port 0...).
        case unusableAddress(String)
        /// Any other connection error, in the operating system's words.
        case connectionFailed(String)
        /// The seed is this node's own address.
        case ownAddress

        /// Whether trying again cannot help soon: nothing listens, the seed will not answer
        /// this node (another key or cluster label), or the address is unusable or this node's
        /// own. A join whose every seed failed so returns at once instead of waiting out
        /// `joinTimeout`. A seed that is only busy (over its connection limits in a join storm)
        /// or stopping resets the connection instead of closing it: `connectionFailed`, retried.
        public var isDefinitive: Bool {
            switch self {
            case .connectionRefused, .closedWithoutAnswer, .unusableAddress, .ownAddress: true
            case .timedOut, .noAnswer, .connectionFailed: false
            }
        }

        public var description: String {
            switch self {
            case .connectionRefused: "connection refused"
            case .timedOut: "timed out"
            case .closedWithoutAnswer: "closed the connection without answering (wrong key or cluster label?)"
            case .noAnswer: "no answer"
            case .unusableAddress(let why): "cannot send there: \(why)"
            case .connectionFailed(let why): "connection failed: \(why)"
            case .ownAddress: "this node's own address"
            }
        }
    }

    public var seed: Address
    public var reason: Reason

    public init(seed: Address, reason: Reason) {
        self.seed = seed
        self.reason = reason
    }

    public var description: String { "\(seed): \(reason)" }
}
