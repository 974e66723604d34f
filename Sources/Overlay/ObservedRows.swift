public import Addresses

/// Who wrote a row the kernel holds; decides what the diff may do with it.
public enum RowOrigin: Hashable, Sendable {
    /// Written by the agent (it carries the agent's ownership mark): changed and deleted at will.
    case ours
    /// Learned by the kernel (dynamic, not permanent). Replaced when the agent needs its key,
    /// since it works only until it ages out; otherwise left to age out.
    case learned
    /// Written by someone else, an operator's permanent row: never changed nor deleted. A
    /// desired row it stands in the way of is reported as blocked.
    case foreign
}

/// A kernel row's value and who wrote it.
public struct ObservedRow<Value: Hashable & Sendable>: Hashable, Sendable {
    public var value: Value
    public var origin: RowOrigin

    public init(_ value: Value, origin: RowOrigin) {
        self.value = value
        self.origin = origin
    }
}

/// The rows one network's VXLAN device holds, as dumped from the kernel (the agent translates
/// `Netlink`'s `FDBRow`/`NeighborRow` into this).
public struct ObservedRows: Hashable, Sendable {
    /// Flood destinations (all-zero MAC rows), by VTEP.
    public var flood: [IPAddress: RowOrigin] = [:]
    /// Unicast FDB rows: MAC → destination VTEP. A unicast MAC holds one destination (the kernel's
    /// replace keeps one).
    public var unicast: [MACAddress: ObservedRow<IPAddress>] = [:]
    /// Neighbour rows: IP → MAC (nil for an entry the kernel has not resolved).
    public var neighbors: [IPAddress: ObservedRow<MACAddress?>] = [:]

    public init(flood: [IPAddress: RowOrigin] = [:], unicast: [MACAddress: ObservedRow<IPAddress>] = [:],
                neighbors: [IPAddress: ObservedRow<MACAddress?>] = [:]) {
        self.flood = flood
        self.unicast = unicast
        self.neighbors = neighbors
    }
}
