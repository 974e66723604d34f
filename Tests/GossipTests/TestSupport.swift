import Gossip
import GossipCore
import GossipWire
import GrapevineTestSupport
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Short intervals keep a 32-node cluster test within seconds.
func fastSettings() -> Settings {
    var s = Settings()
    s.probeInterval = .milliseconds(200)
    s.probeTimeout = .milliseconds(100)
    s.gossipInterval = .milliseconds(50)
    s.pushPullInterval = .seconds(2)
    s.reconnectInterval = .seconds(1)
    s.joinRetryInterval = .milliseconds(200)
    s.joinMaxAttempts = 3
    s.leavePropagationTimeout = .seconds(2)
    return s
}


/// Tests keep quiet unless something goes wrong.
let quietLogger: Logger = {
    var l = Logger(label: "gossip-test") { StreamLogHandler.standardError(label: $0) }
    l.logLevel = .error
    return l
}()

/// A node's configuration with `fastSettings()`, bound at `address` (a restart's old address),
/// or else at a loopback address of its own (`freshLoopbackIPv4`: no stray datagram of another
/// test's cluster reaches it) on an ephemeral port.
func config(
    _ name: String, at address: Address? = nil, group: (any EventLoopGroup)? = nil, keyring: Keyring? = nil,
    label: ClusterLabel = .none, snapshot: String? = nil
) -> GossipConfiguration {
    let bind = address ?? Address(ipv4: freshLoopbackIPv4(), port: 0)
    var c = GossipConfiguration(name: name, bindAddress: bind, logger: quietLogger)
    c.settings = fastSettings()
    c.eventLoopGroup = group
    c.keyring = keyring
    c.label = label
    c.snapshotPath = snapshot
    c.snapshotInterval = .milliseconds(100)
    return c
}

struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Waits, driven by the node's membership events, until `condition` holds for its member
/// list; fails after `timeout` (a bound, not a synchronisation).
func waitUntil(
    _ node: GossipNode, _ what: String, timeout: Duration = .seconds(30),
    _ condition: @escaping @Sendable ([Member]) -> Bool
) async throws {
    let met = await firstTrue(within: timeout) {
        let events = await node.events()
        if condition(node.members) { return true }
        for await _ in events where condition(node.members) { return true }
        return condition(node.members)
    }
    if !met {
        let view = node.members.map { "\($0.name)=\($0.status)" }.sorted().joined(separator: " ")
        throw TimedOut(description: "\(node.name): timed out after \(timeout) waiting for \(what); sees \(view)")
    }
}

/// Runs `body` until it answers, or gives up with false after `timeout` (a bound on a wait
/// that is driven by events, never a synchronisation by itself).
func firstTrue(within timeout: Duration, _ body: @escaping @Sendable () async -> Bool) async -> Bool {
    await withTaskGroup(of: Bool.self) { group in
        group.addTask { await body() }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return false
        }
        let first = await group.next() ?? false
        group.cancelAll()
        return first
    }
}

func status(of name: String, in members: [Member]) -> MemberStatus? {
    members.first { $0.name == name }?.status
}

func aliveCount(_ members: [Member]) -> Int {
    members.filter { $0.status == .alive }.count
}

/// A unique scratch directory under /tmp, removed by the caller.
func temporaryDirectory() -> String {
    var template = Array("/tmp/gossip-test-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { buf -> String? in
        guard let base = buf.baseAddress, mkdtemp(base) != nil else { return nil }
        return String(cString: base)
    }
    return made ?? "/tmp"
}

func removeDirectory(_ path: String) {
    guard path != "/tmp", let dir = opendir(path) else { return }
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { unlink(path + "/" + name) }
    }
    closedir(dir)
    rmdir(path)
}

/// Counts metric increments in memory, so a test can read what a node exported.
final class RecordingMetrics: MetricsFactory, Sendable {
    let values = NIOLockedValueBox<[String: Int64]>([:])

    static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        label + dimensions.filter { $0.0 != "node" }.map { "|\($0.0)=\($0.1)" }.joined()
    }

    func value(_ label: String, _ dimensions: [(String, String)] = []) -> Int64 {
        values.withLockedValue { $0[Self.key(label, dimensions)] ?? 0 }
    }

    final class Handler: CounterHandler, RecorderHandler, TimerHandler, Sendable {
        let key: String
        let values: NIOLockedValueBox<[String: Int64]>
        init(key: String, values: NIOLockedValueBox<[String: Int64]>) {
            self.key = key
            self.values = values
        }
        func increment(by amount: Int64) { values.withLockedValue { $0[key, default: 0] += amount } }
        func reset() { values.withLockedValue { $0[key] = 0 } }
        func record(_ value: Int64) { values.withLockedValue { $0[key] = value } }
        func record(_ value: Double) { values.withLockedValue { $0[key] = Int64(value) } }
        func recordNanoseconds(_ duration: Int64) { values.withLockedValue { $0[key] = duration } }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        Handler(key: Self.key(label, dimensions), values: values)
    }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        Handler(key: Self.key(label, dimensions), values: values)
    }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        Handler(key: Self.key(label, dimensions), values: values)
    }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}

/// Polls a node's statistics until `condition` holds (counters have no events to await);
/// fails after `timeout`, a bound rather than a synchronisation.
@discardableResult
func waitForStatistics(
    _ node: GossipNode, _ what: String, timeout: Duration = .seconds(30),
    _ condition: @escaping @Sendable (NodeStatistics) -> Bool
) async throws -> NodeStatistics {
    let last = NIOLockedValueBox<NodeStatistics?>(nil)
    let met = await firstTrue(within: timeout) {
        while !Task.isCancelled {
            let s = await node.statistics()
            last.withLockedValue { $0 = s }
            if condition(s) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }
    guard met, let stats = last.withLockedValue({ $0 }) else {
        throw TimedOut(description: "\(node.name): timed out after \(timeout) waiting for \(what); last \(String(describing: last.withLockedValue { $0 }?.transport))")
    }
    return stats
}
