public import CoreMetrics
import Prometheus
import Synchronization

// CoreMetrics has types of the same names.
private typealias PromCounter = Prometheus.Counter
private typealias PromGauge = Prometheus.Gauge

/// The agent's Prometheus registry and its own `grapevine_*` metrics (Docs/METRICS.md).
///
/// One instance per agent. `factory` writes into the same registry, so the runtime's `gossip_*`
/// metrics (through `GossipConfiguration.metricsFactory`, or `MetricsSystem.bootstrap`) and the
/// agent's come out of one `text()`. Label values that name networks, netlink operations or
/// refusal reasons come from the agent's configuration and code, never from the wire, so the
/// number of series stays bounded.
public final class AgentMetrics: Sendable {
    /// Why a full reconcile ran (`grapevine_reconcile_runs_total{reason}`).
    public enum ReconcileReason: String, Sendable, CaseIterable {
        /// The agent started.
        case start
        /// The periodic timer.
        case timer
        /// The desired state changed (a replicated row or a local endpoint).
        case change
        /// A change notification showed a row differing from the desired state.
        case drift
        /// A netlink error or a lost notification left the kernel's state unknown.
        case error
        /// The VXLAN device was created or recreated.
        case device
    }

    /// What a kernel write did (`grapevine_rows_applied_total{kind}`).
    public enum RowKind: String, Sendable, CaseIterable {
        /// An all-zeros FDB row (flooding to a remote host).
        case flood
        /// A unicast FDB row (a remote endpoint's MAC).
        case unicast
        /// A neighbour (ARP/NDP proxy) row.
        case neighbor
        /// Any row removed.
        case delete
    }

    /// How one handler script ended (`grapevine_handler_runs_total{result}`).
    public enum HandlerResult: String, Sendable, CaseIterable {
        /// Exited 0.
        case ok
        /// Exited non-zero, was killed by a signal other than the timeout's, or could not start.
        case failed
        /// Ran past the timeout; its process group was killed.
        case timeout
        /// Never ran: the queue behind the running scripts was full.
        case dropped
    }

    /// Feeds `swift-metrics` users (the gossip runtime) into this registry.
    public var factory: any MetricsFactory { PrometheusMetricsFactory(registry: registry) }

    private let registry = PrometheusCollectorRegistry()

    private let reconcileRuns = Family("reconcile_runs", "total", "Full reconciles (dump, diff, apply) of a network's device, by cause.")
    private let reconcileSeconds = Family("reconcile", "seconds", "Duration of one full reconcile of a network's device.")
    private let rowsApplied = Family("rows_applied", "total", "Kernel rows written or deleted by the agent, by kind.")
    private let driftRepairs = Family("drift_repairs", "total", "Rows changed or deleted by someone else and put back.")
    private let netlinkErrors = Family("netlink_errors", "total", "Netlink requests that failed, by operation.")
    private let endpoints = Family("endpoints", "", "Endpoints in a network: this host's (local) and other hosts' (remote).")
    private let conflicts = Family("conflicts", "", "Addresses claimed by more than one endpoint in a network.")
    private let rowsRefused = Family("rows_refused", "total", "Replicated overlay rows that did not decode, by reason.")
    private let handlerRuns = Family("handler_runs", "total", "Event handler script runs, by event type and outcome.")
    private let dockerRefusals = Family("docker_refused", "total", "Docker plugin requests refused, by method and reason.")
    private let dockerSyncErrors = Family("docker_sync_errors", "total", "Engine API calls that failed while following the cluster's networks, by operation.")
    private let dockerSyncRuns = Family("docker_sync_passes", "total", "Passes of the loop that keeps dockerd in step with the cluster's networks.")
    private let dockerSyncCounter: PromCounter
    private let monitorEnds = Family("kernel_monitor_ends", "total", "Times the kernel notification monitor ended and was restarted, by cause (error, finished, open).")
    private let publishErrors = Family("publish_errors", "total", "Gossip publishes no caller could be told of that failed, by operation.")
    private let storeErrors = Family("store_errors", "total", "Writes of the data directory's files that failed, by file.")
    private let ipamRefusals = Family("ipam_refused", "total", "Address requests the allocator refused, by reason (exhausted, no_owner_reachable, address_in_use, timed_out, store, ...).")
    private let ipamLeaseCounter: PromCounter
    private let ipamLeasesGauge: PromGauge
    private let ipamFreeGauge: PromGauge
    private let handlerSeconds: ValueHistogram
    private let underlayMTUGauge: PromGauge
    private let overlayMTUGauge: PromGauge
    private let underlayMismatchGauge: PromGauge
    private let underlayMTUChanges: PromCounter
    private let underlayAddressLosses: PromCounter
    private let underlayAddressesMissing: PromGauge
    /// By event, then result: every combination exists from the start.
    private let handlerRunCounters: [HandlerEvent: [HandlerResult: PromCounter]]

    /// Per-label metric objects, made on first use and then reused: the registry is asked once
    /// per network, operation or reason.
    private let cache = Mutex(Cache())

    /// A metric's name (`grapevine_<metric>_<unit>`) and help text.
    private struct Family: Sendable {
        let metric: String
        let unit: String
        let help: String
        init(_ metric: String, _ unit: String, _ help: String) {
            self.metric = metric
            self.unit = unit
            self.help = help
        }
        var descriptor: MetricNameDescriptor {
            MetricNameDescriptor(namespace: "grapevine", metricName: metric, unitName: unit, helpText: help)
        }
    }

    private struct Cache {
        var networks: [String: NetworkMetrics] = [:]
        var netlinkErrors: [String: PromCounter] = [:]
        var rowsRefused: [String: PromCounter] = [:]
        var dockerRefused: [String: PromCounter] = [:]
        var dockerSync: [String: PromCounter] = [:]
        var ipamRefusals: [String: PromCounter] = [:]
        var monitorEnds: [String: PromCounter] = [:]
        var storeErrors: [String: PromCounter] = [:]
        var publishErrors: [String: PromCounter] = [:]
    }

    /// The metrics of one network.
    private struct NetworkMetrics {
        let runs: [ReconcileReason: PromCounter]
        let seconds: ValueHistogram
        let applied: [RowKind: PromCounter]
        let drift: PromCounter
        let local: PromGauge
        let remote: PromGauge
        let conflicts: PromGauge
    }

    /// Reconcile durations: 100 µs (an idle device) to 10 s (a cold kernel with ten thousands of rows).
    static let reconcileBuckets: [Double] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]
    /// Handler durations: 1 ms to 60 s (handler timeouts are seconds to a minute).
    static let handlerBuckets: [Double] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60]

    public init() {
        dockerSyncCounter = registry.makeCounter(descriptor: dockerSyncRuns.descriptor)
        ipamLeaseCounter = registry.makeCounter(descriptor: Family("ipam_leased", "total", "Addresses the allocator handed out on this host.").descriptor)
        ipamLeasesGauge = registry.makeGauge(descriptor: Family("ipam_leases", "", "Addresses leased on this host, over every network.").descriptor)
        ipamFreeGauge = registry.makeGauge(descriptor: Family("ipam_free", "", "Addresses this host owns and may still hand out, over every network.").descriptor)
        underlayMTUGauge = registry.makeGauge(descriptor: Family(
            "underlay_mtu", "bytes", "The underlay MTU the overlay is sized for (underlay_mtu, else the VTEP device's).").descriptor)
        overlayMTUGauge = registry.makeGauge(descriptor: Family(
            "overlay_mtu", "bytes", "The MTU of the VXLAN devices and bridges (the underlay's less the encapsulation).").descriptor)
        underlayMismatchGauge = registry.makeGauge(descriptor: Family(
            "underlay_mtu_mismatch", "", "1 while underlay_mtu is larger than the VTEP device's MTU (full-size overlay packets are lost), else 0.").descriptor)
        underlayMTUChanges = registry.makeCounter(descriptor: Family(
            "underlay_mtu_changes", "total", "Times the VTEP device's MTU changed and the overlay devices followed.").descriptor)
        underlayAddressLosses = registry.makeCounter(descriptor: Family(
            "underlay_address_losses", "total", "Times the VTEP or bind address was removed from this host while the agent ran.").descriptor)
        underlayAddressesMissing = registry.makeGauge(descriptor: Family(
            "underlay_addresses_missing", "", "The VTEP and bind addresses currently on no device of this host (restart the agent at the new address).").descriptor)
        handlerSeconds = registry.makeValueHistogram(
            descriptor: Family("handler", "seconds", "Duration of one event handler script run.").descriptor,
            labels: [], buckets: Self.handlerBuckets)
        var runs: [HandlerEvent: [HandlerResult: PromCounter]] = [:]
        for event in HandlerEvent.allCases {
            var byResult: [HandlerResult: PromCounter] = [:]
            for result in HandlerResult.allCases {
                byResult[result] = registry.makeCounter(
                    descriptor: handlerRuns.descriptor, labels: [("event", event.rawValue), ("result", result.rawValue)])
            }
            runs[event] = byResult
        }
        handlerRunCounters = runs
    }

    /// The exposition format (text/plain; version=0.0.4) of every metric in the registry.
    public func text() -> String { registry.emitToString() }

    /// One full reconcile of `network`'s device finished, after `seconds` (wall clock).
    public func reconciled(network: String, reason: ReconcileReason, seconds: Double) {
        let metrics = self.network(network)
        metrics.runs[reason]?.increment()
        metrics.seconds.record(seconds)
    }

    /// `count` rows of `kind` were written to (or, for `.delete`, removed from) `network`'s device.
    public func applied(network: String, kind: RowKind, count: Int) {
        guard count > 0 else { return }
        self.network(network).applied[kind]?.increment(by: Int64(count))
    }

    /// A row of `network` changed by someone else was put back.
    public func driftRepaired(network: String) { self.network(network).drift.increment() }

    /// A netlink request failed. `operation` is a fixed name from the agent's code (`fdb_dump`, ...).
    public func netlinkError(operation: String) {
        cached(\.netlinkErrors, operation, family: netlinkErrors, label: "operation").increment()
    }

    /// The endpoints `network` now holds: this host's and every other host's.
    public func setEndpoints(network: String, local: Int, remote: Int) {
        let metrics = self.network(network)
        metrics.local.set(Double(local))
        metrics.remote.set(Double(remote))
    }

    /// The addresses in `network` now claimed by more than one endpoint.
    public func setConflicts(network: String, count: Int) { self.network(network).conflicts.set(Double(count)) }

    /// A replicated overlay row was refused; `reason` is `OverlayRowError.reason`.
    public func rowRefused(reason: String) {
        cached(\.rowsRefused, reason, family: rowsRefused, label: "reason").increment()
    }

    /// A Docker plugin request was refused. Unknown methods count as `other`: the label's
    /// values are the protocol's method names, never the wire's text.
    func dockerRefused(method: String, code: String) {
        let known = Self.dockerMethods.contains(method) ? method : "other"
        cache.withLock { cache in
            let key = known + "/" + code
            if let counter = cache.dockerRefused[key] { counter.increment(); return }
            let counter = registry.makeCounter(descriptor: dockerRefusals.descriptor, labels: [("method", known), ("code", code)])
            cache.dockerRefused[key] = counter
            counter.increment()
        }
    }

    static let dockerMethods: Set<String> = [
        "IpamDriver.RequestPool", "IpamDriver.RequestAddress", "IpamDriver.ReleaseAddress", "IpamDriver.ReleasePool",
        "NetworkDriver.CreateNetwork", "NetworkDriver.DeleteNetwork", "NetworkDriver.CreateEndpoint",
        "NetworkDriver.Join", "NetworkDriver.DeleteEndpoint",
    ]

    /// An engine API call made to follow the cluster's networks failed (`create`, `delete`).
    func dockerSyncError(operation: String) {
        cached(\.dockerSync, operation, family: dockerSyncErrors, label: "operation").increment()
    }

    /// The kernel notification monitor ended (`error`, `finished`) or could not be opened
    /// (`open`); the agent restarts it and reconciles every network.
    func monitorEnded(cause: String) {
        cached(\.monitorEnds, cause, family: monitorEnds, label: "cause").increment()
    }

    /// A gossip publish no caller could be told of failed (`definition`, `block`, `delete block`).
    func publishError(operation: String) {
        cached(\.publishErrors, operation, family: publishErrors, label: "operation").increment()
    }

    /// A write of `file` (`endpoints`, `docker`, `keyring`, `flood`) in the data directory failed.
    func storeError(file: String) {
        cached(\.storeErrors, file, family: storeErrors, label: "file").increment()
    }

    /// The underlay as the agent now sees it (`Underlay`).
    func setUnderlay(underlayMTU: Int, overlayMTU: UInt32, mismatch: Bool, missing: Int) {
        underlayMTUGauge.set(Double(underlayMTU))
        overlayMTUGauge.set(Double(overlayMTU))
        underlayMismatchGauge.set(Double(mismatch ? 1 : 0))
        underlayAddressesMissing.set(Double(missing))
    }

    /// The overlay devices followed a change of the VTEP device's MTU.
    func underlayMTUChanged() { underlayMTUChanges.increment() }

    /// The VTEP or bind address was removed from this host.
    func underlayAddressLost() { underlayAddressLosses.increment() }

    /// One pass of the Docker sync loop ran (a wake-up or the timer).
    func dockerSyncPass() { dockerSyncCounter.increment() }

    func ipamLeased() { ipamLeaseCounter.increment() }

    func ipamRefused(reason: String) {
        cached(\.ipamRefusals, reason, family: ipamRefusals, label: "reason").increment()
    }

    func setIPAM(leases: Int, free: UInt64) {
        ipamLeasesGauge.set(Double(leases))
        ipamFreeGauge.set(Double(free))
    }

    /// One handler run for an event of type `event` ended with `result` after `seconds`
    /// (`nil` for a run that never started).
    func handlerRan(event: HandlerEvent, result: HandlerResult, seconds: Double?) {
        handlerRunCounters[event]?[result]?.increment()
        if let seconds { handlerSeconds.record(seconds) }
    }

    private func cached(_ table: WritableKeyPath<Cache, [String: PromCounter]>, _ value: String,
                        family: Family, label: String) -> PromCounter {
        cache.withLock { cache in
            if let counter = cache[keyPath: table][value] { return counter }
            let counter = registry.makeCounter(descriptor: family.descriptor, labels: [(label, value)])
            cache[keyPath: table][value] = counter
            return counter
        }
    }

    private func network(_ network: String) -> NetworkMetrics {
        cache.withLock { cache in
            if let metrics = cache.networks[network] { return metrics }
            let label = ("network", network)
            var runs: [ReconcileReason: PromCounter] = [:]
            for reason in ReconcileReason.allCases {
                runs[reason] = registry.makeCounter(descriptor: reconcileRuns.descriptor, labels: [label, ("reason", reason.rawValue)])
            }
            var applied: [RowKind: PromCounter] = [:]
            for kind in RowKind.allCases {
                applied[kind] = registry.makeCounter(descriptor: rowsApplied.descriptor, labels: [label, ("kind", kind.rawValue)])
            }
            let metrics = NetworkMetrics(
                runs: runs,
                seconds: registry.makeValueHistogram(descriptor: reconcileSeconds.descriptor, labels: [label],
                                                     buckets: Self.reconcileBuckets),
                applied: applied,
                drift: registry.makeCounter(descriptor: driftRepairs.descriptor, labels: [label]),
                local: registry.makeGauge(descriptor: endpoints.descriptor, labels: [label, ("scope", "local")]),
                remote: registry.makeGauge(descriptor: endpoints.descriptor, labels: [label, ("scope", "remote")]),
                conflicts: registry.makeGauge(descriptor: conflicts.descriptor, labels: [label]))
            cache.networks[network] = metrics
            return metrics
        }
    }
}
