public import Addresses

/// What the allocator is told. Time (`now`) is in the caller's units (the agent: milliseconds
/// of a monotonic clock), only ever compared with `reclaimAfter` and `requestTimeout`.
public enum AllocatorInput: Hashable, Sendable {
    /// This host created the network: it owns the whole pool (no consensus round).
    case create
    /// Lease an address for `id`: `address` nil for any, else exactly that one (`--ip`).
    case request(id: String, address: IPAddress?, now: UInt64)
    /// The container holding `address` is gone (Docker's `ReleaseAddress`); not leased here: nothing.
    case release(address: IPAddress)
    /// Another host's row, as gossip delivered it (any order, any version, any number of times).
    case merge(AllocatorRow)
    /// The hosts membership counts alive now (its own view; partitions make views differ).
    case members(alive: Set<String>, now: UInt64)
    /// Expire requests older than `requestTimeout`.
    case tick(now: UInt64)
    /// Leave the network gracefully: give every range to `to` (a live host), drop the leases.
    /// The row is final afterwards: the host answers, takes and writes nothing more.
    case leave(to: String)
    /// Take the ranges of `host`, gone past `reclaimAfter`, if this host is its reclaimer and
    /// every other host it knows is reachable or itself gone past `reclaimAfter`.
    case reclaim(host: String, now: UInt64)
    /// `grapevine ipam reclaim HOST`: the operator states that `host` is gone for good. Refused
    /// only while `host` is alive in this host's view (or already reclaimed, or has left); the
    /// period, the reclaimer rule and the wait for unreachable hosts are skipped. The
    /// operator's responsibility: `host` alive beyond a partition, or the same host reclaimed
    /// from two hosts at once, can give an address twice (Docs/OVERLAY.md).
    case operatorReclaim(host: String, now: UInt64)
}

/// Why a request or a reclaim was refused, each naming what the user can do.
public enum AllocationRefusal: Hashable, Sendable, CustomStringConvertible {
    /// No address of the pool (inside `--ip-range`) is free on any host this host knows.
    case subnetFull
    /// Free space exists only with hosts that are not reachable now.
    case noOwnerReachable
    case inUse(IPAddress, owner: String)
    /// Outside the subnet (or, IPv6, past its managed first 2³² addresses), or reserved
    /// (network, broadcast, gateway, aux).
    case notLeasable(IPAddress)
    /// The owner did not answer within `requestTimeout`, or the address is between owners.
    case timedOut
    case alreadyLeft
    case notReclaimer(host: String, reclaimer: String?)
    case stillAlive(host: String)
    /// Reclaim waits: `waitingFor` is unreachable but was seen within the reclaim period, so it
    /// may hold rows newer than this host's (it may have taken part of the target's ranges).
    case waitingFor(host: String, waitingFor: String)
    /// Another host reclaimed this host's identity (it was taken for gone): it must not hand
    /// out anything more, and must come back under a new identity.
    case identityReclaimed(by: String)
    /// This host holds as many leases of the network as it may (`AddressAllocator.leaseLimit`).
    case hostLeaseLimit

    public var description: String {
        switch self {
        case .subnetFull: "every address of the pool is leased; use a larger subnet or --ip-range, or remove containers"
        case .noOwnerReachable: "the hosts that own free addresses are unreachable; retry once they are back, or reclaim a host that is gone"
        case .inUse(let ip, let owner): "\(ip) is leased on host \(owner); pick another address"
        case .notLeasable(let ip): "\(ip) is outside the subnet\(ip.isV6 ? " (or past its first 2^\(AddressPool.managedBits6) addresses, the part grapevine hands out)" : "") or reserved (network, broadcast, gateway, aux address)"
        case .timedOut: "no owner answered in time; retry"
        case .alreadyLeft: "this host has left the network"
        case .notReclaimer(let h, let r): "only \(r ?? "no host") may reclaim \(h)'s ranges"
        case .stillAlive(let h): "\(h) was seen alive within the reclaim period; it is refused while the host may be alive"
        case .waitingFor(let h, let w): "reclaim of \(h) waits for \(w), unreachable but seen within the reclaim period; retry once it is back or gone past the period"
        case .identityReclaimed(let by): "this host's ranges were reclaimed by \(by); restart the agent under a new identity (clear its data directory)"
        case .hostLeaseLimit: "this host holds as many addresses of the network as one host may (\(AllocatorRecord.maxLeases)); start the container on another host"
        }
    }
}

public enum AllocatorOutput: Hashable, Sendable {
    /// This host's row changed: persist it, then publish it (in that order; refuse to go on if
    /// it cannot be persisted).
    case publish(AllocatorRow)
    case leased(id: String, address: IPAddress)
    case refused(id: String, AllocationRefusal)
    case reclaimRefused(host: String, AllocationRefusal)
}

extension IPAddress {
    var isV6: Bool {
        if case .v6 = self { return true }
        return false
    }
}
