import GrapevineTestSupport
import Addresses
import Foundation
import Overlay
@testable import OverlayAgent
import Synchronization

/// The faults a test injects at the registry's edges: each write or publish fails with
/// probability `rate` (drawn from a seeded generator), and every publish or withdrawal of an
/// endpoint whose MAC is in `doomed` fails.
final class Faults: Sendable {
    private struct State {
        var random: SplitMix
        var diskRate: Double
        var rowRate: Double
        var doomed: Set<String> = []
        var breakDiskOnDoomed = false
        var injected = 0
    }

    private let state: Mutex<State>

    init(seed: UInt64, diskRate: Double = 0, rowRate: Double = 0) {
        state = Mutex(State(random: SplitMix(seed: seed), diskRate: diskRate, rowRate: rowRate))
    }

    /// How many faults were injected so far.
    var injected: Int { state.withLock { $0.injected } }

    func doom(_ mac: String) { state.withLock { _ = $0.doomed.insert(mac) } }

    /// From the first doomed publish on, every file write fails too (a disk that breaks just
    /// when the registry must undo a change).
    func breakDiskOnDoomedPublish() { state.withLock { $0.breakDiskOnDoomed = true } }

    func set(diskRate: Double, rowRate: Double) {
        state.withLock {
            $0.diskRate = diskRate
            $0.rowRate = rowRate
        }
    }

    func diskFails() -> Bool { draw { $0.diskRate } }

    func rowFails(mac: String?) -> Bool {
        state.withLock { state in
            if let mac, state.doomed.contains(mac) {
                state.injected += 1
                if state.breakDiskOnDoomed { state.diskRate = 1 }
                return true
            }
            let fails = Double.random(in: 0..<1, using: &state.random) < state.rowRate
            if fails { state.injected += 1 }
            return fails
        }
    }

    private func draw(_ rate: (State) -> Double) -> Bool {
        state.withLock { state in
            let fails = Double.random(in: 0..<1, using: &state.random) < rate(state)
            if fails { state.injected += 1 }
            return fails
        }
    }
}

struct InjectedFault: Error, CustomStringConvertible {
    var description: String { "injected fault" }
}

/// The real registry file (`EndpointStore`, written through the persistence thread), whose
/// writes fail on demand before they touch the file, as a full disk refuses them.
struct FaultyDisk: RegistryDisk {
    let store: EndpointStore
    let faults: Faults

    func save(_ records: [RegistryRecord]?, whole: @escaping @Sendable () -> EndpointStore.Contents) async throws(StoreError) {
        await Task.yield()
        if faults.diskFails() { throw StoreError("cannot write: injected fault (disk full)") }
        try await store.save(records, whole: whole)
    }
}

/// The replicated rows of this host as a gossip node would hold them, with publishes that
/// fail on demand and change nothing when they do.
final class FaultyRows: RowPublisher {
    private let rows = Mutex<[String: OverlayRow]>([:])
    let faults: Faults

    init(faults: Faults) { self.faults = faults }

    var published: [String: OverlayRow] { rows.withLock { $0 } }

    @discardableResult
    func write(_ row: OverlayRow) async throws -> UInt64 {
        await Task.yield()
        _ = try row.value()
        if faults.rowFails(mac: Self.mac(row)) { throw InjectedFault() }
        rows.withLock { $0[row.stateKey] = row }
        return 1
    }

    func delete(_ row: OverlayRow) async throws {
        await Task.yield()
        if faults.rowFails(mac: Self.mac(row)) { throw InjectedFault() }
        rows.withLock { _ = $0.removeValue(forKey: row.stateKey) }
    }

    static func mac(_ row: OverlayRow) -> String? {
        if case .endpoint(let e) = row { return e.mac.description }
        return nil
    }
}

/// A data directory of its own, deleted at the end.
func withDataDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("grapevine-registry-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}
