/// A timer, as data. A node ignores an expired timer it no longer wants, so the shell never
/// needs to cancel one.
public struct TimerID: Hashable, Sendable, CustomStringConvertible {
    public var kind: TimerKind
    /// Tells apart successive timers of one kind: the generation of a kind that supersedes
    /// earlier ones, a probe's sequence number, a suspicion's id, a join attempt's retry token.
    public var token: UInt64

    public init(kind: TimerKind, token: UInt64) {
        self.kind = kind
        self.token = token
    }

    public var description: String { "\(kind)#\(token)" }
}

/// Which part of the core armed a timer, and for what. Each part has its own cases, and says
/// next to them which kinds supersede earlier timers of the same kind: the router then delivers
/// only the one armed last (`GossipInstance.currentToken`). The switches have no `default`, so
/// a new kind cannot be added without deciding.
public enum TimerKind: Hashable, Sendable, CustomStringConvertible {
    case failureDetector(FailureDetectorTimer)
    case dissemination(DisseminationTimer)
    case antiEntropy(AntiEntropyTimer)
    case join(JoinTimer)
    case leave(LeaveTimer)
    case userEvents(UserEventTimer)
    case queries(QueryTimer)
    case state(StateTimer)

    /// Whether arming a timer of this kind makes every earlier one of the kind stale.
    public var supersedesEarlier: Bool {
        switch self {
        case .failureDetector(let t): t.supersedesEarlier
        case .dissemination(let t): t.supersedesEarlier
        case .antiEntropy(let t): t.supersedesEarlier
        case .join(let t): t.supersedesEarlier
        case .leave(let t): t.supersedesEarlier
        case .userEvents(let t): t.supersedesEarlier
        case .queries(let t): t.supersedesEarlier
        case .state(let t): t.supersedesEarlier
        }
    }

    /// A stable number per kind, for traces (the simulator's trace hash) and logs. Never reused.
    public var code: UInt8 {
        switch self {
        case .failureDetector(let t): t.rawValue
        case .dissemination(let t): t.rawValue
        case .antiEntropy(let t): t.rawValue
        case .join(let t): t.rawValue
        case .leave(let t): t.rawValue
        case .userEvents(let t): t.rawValue
        case .queries(let t): t.rawValue
        case .state(let t): t.rawValue
        }
    }

    public var description: String {
        switch self {
        case .failureDetector(let t): "failureDetector.\(t)"
        case .dissemination(let t): "dissemination.\(t)"
        case .antiEntropy(let t): "antiEntropy.\(t)"
        case .join(let t): "join.\(t)"
        case .leave(let t): "leave.\(t)"
        case .userEvents(let t): "userEvents.\(t)"
        case .queries(let t): "queries.\(t)"
        case .state(let t): "state.\(t)"
        }
    }
}

/// Timers of SWIM's failure detection (`FailureDetector`).
public enum FailureDetectorTimer: UInt8, Hashable, Sendable {
    /// The protocol period: probe the next member.
    case probe = 0
    /// No direct ack yet: ask helpers (token: the probe's sequence number).
    case probeTimeout = 4
    /// The probe's period is over (token: its sequence number).
    case probeDeadline = 5
    /// An indirect probe run for another member gets no ack (token: the relay's sequence number).
    case indirectTimeout = 6
    /// A suspicion's deadline (token: the suspicion's id, renewed when a confirmation moves it).
    case suspicion = 7

    public var supersedesEarlier: Bool {
        switch self {
        case .probe: true
        case .probeTimeout, .probeDeadline, .indirectTimeout, .suspicion: false
        }
    }
}

/// Timers of gossip (`Dissemination`).
public enum DisseminationTimer: UInt8, Hashable, Sendable {
    /// A gossip round.
    case gossip = 1

    public var supersedesEarlier: Bool {
        switch self {
        case .gossip: true
        }
    }
}

/// Timers of push/pull anti-entropy.
public enum AntiEntropyTimer: UInt8, Hashable, Sendable {
    /// A full state exchange with one random live member.
    case pushPull = 2
    /// An exchange with one failed member, so that partitions heal.
    case reconnect = 3

    public var supersedesEarlier: Bool {
        switch self {
        case .pushPull, .reconnect: true
        }
    }
}

/// Timers of joins (`JoinProcess`).
public enum JoinTimer: UInt8, Hashable, Sendable {
    /// A join attempt's wait for answers is over (token: that attempt's retry token). Joins run
    /// side by side, so this never supersedes another join's timer; each join keeps its own token.
    case retry = 8

    public var supersedesEarlier: Bool {
        switch self {
        case .retry: false
        }
    }
}

/// Timers of a graceful departure (`LeaveProcess`).
public enum LeaveTimer: UInt8, Hashable, Sendable {
    /// The longest the departure is gossiped before the node stops anyway.
    case deadline = 9

    public var supersedesEarlier: Bool {
        switch self {
        case .deadline: true
        }
    }
}

/// Timers of user events (`UserEvents`).
public enum UserEventTimer: UInt8, Hashable, Sendable {
    /// The coalescing window is over: deliver the held events.
    case coalesce = 10

    public var supersedesEarlier: Bool {
        switch self {
        case .coalesce: true
        }
    }
}

/// Timers of queries (`Queries`).
public enum QueryTimer: UInt8, Hashable, Sendable {
    /// A query this node asked times out (token: the query's own token); queries run side by side.
    case deadline = 11

    public var supersedesEarlier: Bool {
        switch self {
        case .deadline: false
        }
    }
}

/// Timers of replicated state (`ReplicatedState`).
public enum StateTimer: UInt8, Hashable, Sendable {
    /// Drop the tombstones older than `Settings.stateTombstoneAge`.
    case collect = 12
    /// Ask for the writes missing of owners with a gap (`ReplicatedStateRepair.swift`).
    case repair = 13
    /// Announce the newest versions of owners whose rows were applied lately.
    case announce = 14
    /// Withdraw the rows of a previous life not written again (`Settings.stateRestoreGrace`).
    case restore = 15

    public var supersedesEarlier: Bool {
        switch self {
        case .collect, .repair, .announce, .restore: true
        }
    }
}
