import GrapevineTestSupport
import Addresses
import Foundation
import Logging
import Overlay
@testable import OverlayAgent
import Testing

/// The endpoint registry as the one owner of this host's endpoints: concurrent callers and
/// faults injected at its edges (the file write, the gossip publish) never lose an
/// acknowledged endpoint nor leave a refused one anywhere (issue 20, "The structure";
/// review round 3, §3 C2).
@Suite struct EndpointRegistryTests {
    static let network = "blue"
    static let vni = VNI(100)!

    struct Harness {
        let registry: EndpointRegistry
        let store: EndpointStore
        let rows: FaultyRows
        let faults: Faults

        /// `retryAttempts`: many by default, so that the undo's rewrite outlasts any run of
        /// random faults and the checks hold exactly.
        init(directory: String, faults: Faults, retryAttempts: Int = 10_000) {
            store = EndpointStore(directory: directory, persistence: PersistenceQueue())
            rows = FaultyRows(faults: faults)
            self.faults = faults
            registry = EndpointRegistry(
                host: "h1", disk: FaultyDisk(store: store, faults: faults), rows: rows,
                logger: Logger(label: "registry-test", factory: { _ in SwiftLogNoOpLogHandler() }), metrics: AgentMetrics(),
                retry: Backoff(base: .milliseconds(1), cap: .milliseconds(4)), retryAttempts: retryAttempts)
        }

        /// Runs the registry's task around `body`, and stops it after.
        func running<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
            try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { await registry.run(); return nil }
                let result = try await body()
                group.cancelAll()
                return result
            }
        }

        /// Checks that the registry, its file and its published rows hold exactly `expected`.
        func expectEverywhere(_ expected: [EndpointKey: StoredEndpoint], sourceLocation: SourceLocation = #_sourceLocation) throws {
            #expect(registry.endpoints == expected, "the registry", sourceLocation: sourceLocation)
            let disk = try store.load()
            let onDisk = Dictionary(disk.endpoints.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
            #expect(onDisk == expected, "the file", sourceLocation: sourceLocation)
            #expect(disk.endpoints.count == onDisk.count, "no endpoint twice in the file", sourceLocation: sourceLocation)
            var wanted: [String: OverlayRow] = [:]
            for e in expected.values {
                let row = OverlayRow.endpoint(try e.endpoint(owner: "h1"))
                wanted[row.stateKey] = row
            }
            #expect(rows.published == wanted, "the published rows", sourceLocation: sourceLocation)
            if let newest = expected.values.map(\.claim).max() {
                #expect(disk.clock >= newest, "the file's clock is past every claim", sourceLocation: sourceLocation)
            }
        }
    }

    static func draft(_ mac: String, ip: String? = nil) -> EndpointRegistry.Draft {
        EndpointRegistry.Draft(network: network, vni: vni, mac: MACAddress(mac)!, ipv4: ip.flatMap(IPAddress.init),
                               ipv6: nil, name: nil)
    }

    static func key(_ mac: String) -> EndpointKey { EndpointKey(network: vni.value, mac: MACAddress(mac)!.description) }

    /// One caller's history: its endpoints as its acknowledged operations left them.
    struct CallerOutcome: Sendable {
        var expected: [EndpointKey: StoredEndpoint?] = [:]
        var acknowledged = 0
        var refused = 0
    }

    /// Eight callers add and remove endpoints at once (each its own MACs, all sharing a few
    /// addresses, so adds also refuse each other), while a fifth of the file writes and of
    /// the publishes fail. After all are answered: every acknowledged endpoint is in the
    /// registry, on disk and published; every refused change is in none of them; a registry
    /// restarted from the file has the same endpoints.
    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6])
    func concurrentCallersWithInjectedFaultsLoseNothing(seed: UInt64) async throws {
        try await withDataDirectory { directory in
            let faults = Faults(seed: seed, diskRate: 0.2, rowRate: 0.2)
            let harness = Harness(directory: directory, faults: faults)
            let outcomes = try await harness.running {
                await withTaskGroup(of: CallerOutcome.self) { group in
                    for caller in 0..<8 {
                        group.addTask {
                            var random = SplitMix(seed: seed &* 1_000 &+ UInt64(caller))
                            var outcome = CallerOutcome()
                            for _ in 0..<25 {
                                let mac = "02:00:00:00:\(String(format: "%02x", caller)):\(String(format: "%02x", Int.random(in: 0..<4, using: &random)))"
                                let key = Self.key(mac)
                                do {
                                    if Bool.random(using: &random) {
                                        let ip = Bool.random(using: &random) ? "10.0.0.\(Int.random(in: 1...6, using: &random))" : nil
                                        let stored = try await harness.registry.add(Self.draft(mac, ip: ip))
                                        outcome.expected[key] = .some(stored)
                                    } else {
                                        try await harness.registry.remove(key, network: Self.network)
                                        outcome.expected[key] = .some(nil)
                                    }
                                    outcome.acknowledged += 1
                                } catch {
                                    outcome.refused += 1
                                }
                            }
                            return outcome
                        }
                    }
                    var all: [CallerOutcome] = []
                    for await outcome in group { all.append(outcome) }
                    return all
                }
            }
            var expected: [EndpointKey: StoredEndpoint] = [:]
            for outcome in outcomes {
                for (key, stored) in outcome.expected { expected[key] = stored }
            }
            #expect(outcomes.map(\.acknowledged).reduce(0, +) > 0, "some changes were acknowledged")
            #expect(outcomes.map(\.refused).reduce(0, +) > 0, "some changes were refused")
            #expect(faults.injected > 0, "faults were injected")
            try harness.expectEverywhere(expected)

            // No two endpoints hold one address.
            let addresses = expected.values.compactMap(\.ip)
            #expect(Set(addresses).count == addresses.count)

            // A restart brings back exactly the acknowledged ones, with their claims.
            let restarted = EndpointRegistry(
                host: "h1", disk: harness.store, rows: FaultyRows(faults: Faults(seed: 0)),
                logger: Logger(label: "registry-test", factory: { _ in SwiftLogNoOpLogHandler() }), metrics: AgentMetrics())
            restarted.restore(try harness.store.load())
            #expect(restarted.endpoints == expected)
            #expect(expected.values.allSatisfy { $0.claim <= restarted.clock.value }, "later claims stay later")
        }
    }

    /// The case of review §3 C2: an endpoint whose add was acknowledged vanished when a
    /// concurrent add's publish failed and rolled the registry back to a snapshot taken before
    /// it. Here forty adds that succeed run at once with forty whose publish fails and forty
    /// removals whose withdrawal fails: every acknowledged endpoint stays, in the registry, on
    /// disk and published, and every refused change leaves nothing.
    @Test func anAcknowledgedEndpointStaysWhenAConcurrentAddFails() async throws {
        try await withDataDirectory { directory in
            let faults = Faults(seed: 1)
            let harness = Harness(directory: directory, faults: faults)
            try await harness.running {
                var kept: [EndpointKey: StoredEndpoint] = [:]
                for i in 0..<40 {
                    let stored = try await harness.registry.add(Self.draft(String(format: "02:00:00:00:03:%02x", i)))
                    kept[stored.key] = stored
                }
                for i in 0..<40 {
                    faults.doom(String(format: "02:00:00:00:02:%02x", i))
                    faults.doom(String(format: "02:00:00:00:03:%02x", i))
                }
                let results = await withTaskGroup(of: (String, StoredEndpoint?).self) { group in
                    for i in 0..<40 {
                        group.addTask { ("good", try? await harness.registry.add(Self.draft(String(format: "02:00:00:00:01:%02x", i)))) }
                        group.addTask { ("doomed", try? await harness.registry.add(Self.draft(String(format: "02:00:00:00:02:%02x", i)))) }
                        group.addTask {
                            do {
                                try await harness.registry.remove(Self.key(String(format: "02:00:00:00:03:%02x", i)), network: Self.network)
                                return ("removed", nil)
                            } catch {
                                return ("kept", nil)
                            }
                        }
                    }
                    var all: [(String, StoredEndpoint?)] = []
                    for await result in group { all.append(result) }
                    return all
                }
                let good = results.filter { $0.0 == "good" }.compactMap(\.1)
                #expect(good.count == 40, "every add that nothing failed was acknowledged")
                #expect(results.filter { $0.0 == "doomed" }.allSatisfy { $0.1 == nil }, "every add whose publish failed was refused")
                #expect(results.filter { $0.0 == "kept" }.count == 40, "every removal whose withdrawal failed was refused")
                for e in good { kept[e.key] = e }
                try harness.expectEverywhere(kept)
            }
        }
    }

    /// A write that fails refuses the whole batch it carried and keeps what was acknowledged
    /// before; the next write after the fault works.
    @Test func aFailedWriteRefusesItsBatchAndKeepsTheRest() async throws {
        try await withDataDirectory { directory in
            let faults = Faults(seed: 7)
            let harness = Harness(directory: directory, faults: faults)
            try await harness.running {
                let first = try await harness.registry.add(Self.draft("02:00:00:00:00:01", ip: "10.0.0.1"))
                faults.set(diskRate: 1, rowRate: 0)
                await #expect(throws: AgentError.self) { try await harness.registry.add(Self.draft("02:00:00:00:00:02", ip: "10.0.0.2")) }
                await #expect(throws: AgentError.self) { try await harness.registry.remove(first.key, network: Self.network) }
                faults.set(diskRate: 0, rowRate: 0)
                let third = try await harness.registry.add(Self.draft("02:00:00:00:00:03", ip: "10.0.0.2"))
                try harness.expectEverywhere([first.key: first, third.key: third])
                #expect(third.claim > first.claim)
            }
        }
    }

    /// A disk that breaks just when a failed publish must be undone does not hold the caller
    /// (nor every later one): the undo's rewrite is bounded, the caller gets its error, and the
    /// next write, once the disk works, leaves the file equal to the registry again.
    @Test func aDiskThatStaysBrokenDoesNotHoldCallers() async throws {
        try await withDataDirectory { directory in
            let faults = Faults(seed: 11)
            let harness = Harness(directory: directory, faults: faults, retryAttempts: 3)
            try await harness.running {
                let first = try await harness.registry.add(Self.draft("02:00:00:00:00:01"))
                faults.doom("02:00:00:00:00:02")
                faults.breakDiskOnDoomedPublish()
                await #expect(throws: AgentError.self) { try await harness.registry.add(Self.draft("02:00:00:00:00:02")) }
                #expect(harness.registry.endpoints == [first.key: first])
                #expect(try harness.store.load().endpoints.count == 2, "the file could not be corrected yet")
                faults.set(diskRate: 0, rowRate: 0)
                let third = try await harness.registry.add(Self.draft("02:00:00:00:00:03"))
                try harness.expectEverywhere([first.key: first, third.key: third])
            }
        }
    }

    /// An address a removal frees is not given to an add in the same batch: when the removal
    /// fails and is undone, the address would have two holders. Here every removal fails, so
    /// every add of the same address must be refused, however the two interleave.
    @Test func anAddressIsNotTakenFromAFailingRemoval() async throws {
        try await withDataDirectory { directory in
            let faults = Faults(seed: 13)
            let harness = Harness(directory: directory, faults: faults)
            try await harness.running {
                var kept: [EndpointKey: StoredEndpoint] = [:]
                for i in 0..<20 {
                    let mac = String(format: "02:00:00:00:01:%02x", i)
                    let stored = try await harness.registry.add(Self.draft(mac, ip: "10.0.1.\(i + 1)"))
                    kept[stored.key] = stored
                    faults.doom(mac)
                }
                let taken = await withTaskGroup(of: Bool.self) { group in
                    for i in 0..<20 {
                        group.addTask { try? await harness.registry.remove(Self.key(String(format: "02:00:00:00:01:%02x", i)), network: Self.network); return false }
                        group.addTask { (try? await harness.registry.add(Self.draft(String(format: "02:00:00:00:02:%02x", i), ip: "10.0.1.\(i + 1)"))) != nil }
                    }
                    var n = 0
                    for await ok in group where ok { n += 1 }
                    return n
                }
                #expect(taken == 0, "no address of an endpoint that stays was given to another")
                try harness.expectEverywhere(kept)
            }
        }
    }

    /// Adds check each other in order: a MAC twice, or one address for two MACs, is refused.
    @Test func conflictingAddsAreRefusedInOrder() async throws {
        try await withDataDirectory { directory in
            let harness = Harness(directory: directory, faults: Faults(seed: 3))
            try await harness.running {
                let results = await withTaskGroup(of: Bool.self) { group in
                    for i in 0..<10 {
                        group.addTask { (try? await harness.registry.add(Self.draft(String(format: "02:00:00:00:00:%02x", i), ip: "10.0.0.9"))) != nil }
                        group.addTask { (try? await harness.registry.add(Self.draft("02:00:00:00:00:77"))) != nil }
                    }
                    var n = 0
                    for await ok in group where ok { n += 1 }
                    return n
                }
                #expect(results == 2, "one holder of 10.0.0.9 and one registration of the shared MAC")
                #expect(harness.registry.endpoints.count == 2)
                try harness.expectEverywhere(harness.registry.endpoints)
            }
        }
    }

    /// A registry that has stopped refuses changes at once instead of leaving callers waiting.
    @Test func aStoppedRegistryRefusesChanges() async throws {
        try await withDataDirectory { directory in
            let harness = Harness(directory: directory, faults: Faults(seed: 5))
            _ = try await harness.running { 0 }
            do throws(AgentError) {
                _ = try await harness.registry.add(Self.draft("02:00:00:00:00:01"))
                Issue.record("a stopped registry acknowledged an add")
            } catch {
                #expect(error.code == "not_ready")
            }
            #expect(harness.registry.endpoints.isEmpty)
        }
    }
}
