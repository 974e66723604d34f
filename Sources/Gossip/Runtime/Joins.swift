import GossipCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Identifies one caller's join across the hop to the event loop, so that the caller's task
/// cancellation reaches it even when it fires before the loop has seen the join.
final class JoinToken: Sendable {
    /// Deliver the user events the seeds hold (Serf's `join -replay`).
    let replayEvents: Bool
    init(replayEvents: Bool) { self.replayEvents = replayEvents }
    private let cancelledFlag = NIOLockedValueBox(false)
    var isCancelled: Bool { cancelledFlag.withLockedValue { $0 } }
    func cancel() { cancelledFlag.withLockedValue { $0 = true } }
}

/// One caller's join: its seeds as given, their current addresses, and what happened to each.
/// It ends once: with the number of its seeds that answered, or with an error.
final class JoinWaiter {
    let token: JoinToken
    let seeds: [Seed]
    var addresses: [Address] = []
    var answered: Set<Address> = []
    var outcomes: [Address: SeedFailure.Reason] = [:]
    /// The core's join for this caller's current addresses (a new one after re-resolution).
    var coreJoin: JoinID?
    /// Re-resolutions of host names so far; the next waits `joinRetryInterval * 2^resolutions`.
    var resolutions = 0
    var timers: [UInt64] = []
    let complete: (Result<Int, GossipError>) -> Void

    init(token: JoinToken, seeds: [Seed], complete: @escaping (Result<Int, GossipError>) -> Void) {
        self.token = token
        self.seeds = seeds
        self.complete = complete
    }

    var hasHostNames: Bool { seeds.contains { $0.isHostName } }

    /// Per address, what happened the last time this node tried it.
    var failure: GossipError {
        .joinFailed(seeds: addresses.map { SeedFailure(seed: $0, reason: outcomes[$0] ?? .noAnswer) })
    }
}

/// Joins as callers see them. The core runs joins side by side, each under its own `JoinID`;
/// the runtime gives each caller's join its own, counts only the seeds that answered that
/// caller, and ends each caller's join on the core's verdict on it, its deadline, its
/// cancellation, or the node stopping.
extension NodeRuntime {
    func join(_ seeds: [Seed], token: JoinToken, complete: @escaping (Result<Int, GossipError>) -> Void) {
        guard phase == .running else { return complete(.failure(.notRunning)) }
        if token.isCancelled { return complete(.failure(.cancelled)) }
        let waiter = JoinWaiter(token: token, seeds: seeds, complete: complete)
        joins.append(waiter)
        logger.debug("joining", metadata: ["gossip.seeds": "\(seeds.map(\.description).joined(separator: ","))"])
        waiter.timers.append(
            schedule(at: .now() + TimeAmount(configuration.joinTimeout)) { $0.finishJoin(waiter, .failure(waiter.failure)) })
        resolve(waiter.seeds) { result in
            switch result {
            case .success(let addresses): self.joinResolved(waiter, addresses)
            case .failure(let error): self.finishJoin(waiter, .failure(error))
            }
        }
    }

    /// Host names resolve on NIO's thread pool (`getaddrinfo` blocks), every address of each,
    /// of the bound address's family.
    private func resolve(_ seeds: [Seed], then: @escaping (Result<[Address], GossipError>) -> Void) {
        if !seeds.contains(where: \.isHostName) {
            var all: [Address] = []
            for case .address(let a) in seeds where !all.contains(a) { all.append(a) }
            return then(.success(all))
        }
        let family = configuration.bindAddress.family
        NIOThreadPool.singleton.runIfActive(eventLoop: loop) { () -> Result<[Address], GossipError> in
            var all: [Address] = []
            for seed in seeds {
                switch seed {
                case .address(let a):
                    if !all.contains(a) { all.append(a) }
                case .host(let host, let port):
                    do throws(GossipError) {
                        for a in try Seed.resolve(host, port: port, family: family) where !all.contains(a) { all.append(a) }
                    } catch {
                        return .failure(error)
                    }
                }
            }
            return .success(all)
        }.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let resolved): then(resolved)
            case .failure: then(.failure(.notRunning))
            }
        }
    }

    private func joinResolved(_ waiter: JoinWaiter, _ addresses: [Address]) {
        guard joins.contains(where: { $0 === waiter }) else { return }
        guard phase == .running else { return finishJoin(waiter, .failure(.notRunning)) }
        waiter.addresses = addresses
        // A seed this node cannot send datagrams to would be joined over TCP and then flap
        // failed/joined forever: refused here, with the reason.
        var usable: [Address] = []
        for seed in addresses {
            if seed == core?.address || seed == udpBound.flatMap({ Address($0) }) {
                waiter.outcomes[seed] = .ownAddress
            } else if let refusal = destinationPolicy.check(seed), refusal != .recentlyFailed {
                waiter.outcomes[seed] = .unusableAddress(refusal.description)
            } else {
                usable.append(seed)
            }
        }
        if usable.isEmpty { return finishJoin(waiter, .failure(waiter.failure)) }
        let id = JoinID(raw: nextJoinID)
        nextJoinID += 1
        waiter.coreJoin = id
        handle(.join(seeds: usable, id: id, replayEvents: waiter.token.replayEvents))
        if waiter.hasHostNames { scheduleResolution(waiter) }
    }

    /// Host names are resolved again on the core's retry schedule; when their addresses
    /// changed, the join starts over with the new ones (its deadline still holds).
    private func scheduleResolution(_ waiter: JoinWaiter) {
        let wait = settings.joinRetryInterval * (1 << min(waiter.resolutions, 16))
        waiter.resolutions += 1
        waiter.timers.append(
            schedule(at: .now() + TimeAmount(wait)) { runtime in
                runtime.resolve(waiter.seeds) { result in
                    guard runtime.joins.contains(where: { $0 === waiter }) else { return }
                    if case .success(let addresses) = result, Set(addresses) != Set(waiter.addresses) {
                        runtime.logger.debug(
                            "seed addresses changed; joining the new ones",
                            metadata: ["gossip.seeds": "\(addresses.map(\.description).joined(separator: ","))"])
                        runtime.joinResolved(waiter, addresses)
                    } else {
                        runtime.scheduleResolution(waiter)
                    }
                }
            })
    }

    /// The core's verdict on a join ends the caller's join it belongs to: with the seeds of that
    /// caller that answered, the conflict, or what happened to each seed. The core's own rejoin
    /// from a snapshot belongs to no caller.
    func joinCompleted(_ outcome: JoinOutcome) {
        for waiter in joins where waiter.coreJoin == outcome.id {
            if let conflict = outcome.conflict {
                // The name is held at the address the other claim names.
                finishJoin(waiter, .failure(.nameConflict(name: conflict.name, heldAt: conflict.claimed)))
            } else {
                let contacted = waiter.addresses.filter { waiter.answered.contains($0) }.count
                finishJoin(waiter, contacted > 0 ? .success(contacted) : .failure(waiter.failure))
            }
        }
    }

    func finishJoin(_ waiter: JoinWaiter, _ result: Result<Int, GossipError>) {
        guard let i = joins.firstIndex(where: { $0 === waiter }) else { return }
        joins.remove(at: i)
        for t in waiter.timers { cancelTimer(t) }
        switch result {
        case .success(let contacted):
            logger.info("joined cluster", metadata: ["gossip.join.contacted": "\(contacted)"])
        case .failure(let error):
            // Thrown to the caller, who decides what it means; logged here for debugging only.
            logger.debug("join ended: \(error)")
        }
        waiter.complete(result)
    }

    func cancelJoin(_ token: JoinToken) {
        guard let waiter = joins.first(where: { $0.token === token }) else { return }
        finishJoin(waiter, .failure(.cancelled))
    }

    /// An outbound conversation with `address` got its reply.
    func seedAnswered(_ address: Address) {
        for waiter in joins where waiter.addresses.contains(address) {
            waiter.answered.insert(address)
            waiter.outcomes[address] = nil
        }
    }

    func recordSeedOutcome(_ address: Address, _ reason: SeedFailure.Reason) {
        for waiter in joins where waiter.addresses.contains(address) && !waiter.answered.contains(address) {
            waiter.outcomes[address] = reason
            // The core would retry until `joinTimeout`; the caller learns at once that no seed
            // can answer (the core's retries go on, and a late answer still shows in `members`).
            if waiter.answered.isEmpty, waiter.addresses.allSatisfy({ waiter.outcomes[$0]?.isDefinitive ?? false }) {
                finishJoin(waiter, .failure(waiter.failure))
            }
        }
    }
}
