import GossipCore
import GossipWire
import Metrics

/// Every metric of one node, created once. The hot path only bumps plain integers; `flush`
/// turns them and the core's and codecs' cumulative counters into metric increments.
final class NodeMetrics {
    private let membersByStatus: [MemberStatus: Gauge]
    private let probes: Counter
    private let indirectProbes: Counter
    private let suspicions: Counter
    private let refutations: Counter
    private let pushPulls: Counter
    private let packetsIn: Counter
    private let packetsOut: Counter
    private let bytesIn: Counter
    private let bytesOut: Counter
    private let streamFailures: Counter
    private let dropped: [WireError.Reason: Counter]
    private let localHealth: Gauge
    private let udpUnreachable: Gauge
    private let udpSendErrors: [UDPSendFailure: Counter]
    private let udpSendsRefused: [DestinationPolicy.Refusal: Counter]
    private let udpRebinds: Counter
    private let streamRefused: [StreamBudget.Refusal: Counter]
    private let inboundConnections: Gauge
    private let streamBufferedBytes: Gauge
    private let refused: [Refusal: Counter]
    private let nameConflicts: Counter
    private var lastRefusals: [Refusal: Int] = [:]
    private let queueDepth: [BroadcastClass: Gauge]
    private let broadcastsDropped: [BroadcastClass: Counter]
    private var lastBroadcastsDropped: [BroadcastClass: Int] = [:]
    private let userEvents: [String: Counter]
    private let queries: [String: Counter]
    private let eagerPushes: Counter
    private let duplicates: Counter
    private let requestsRefused: Counter
    private let eventClock: Gauge
    private let queryClock: Gauge
    private let stateRows: [String: Counter]
    private let stateRowsHeld: Gauge
    private let stateVersion: Gauge
    private let stateFollowUps: Counter
    private let tombstonesCollected: Counter

    var pendingPacketsIn = 0
    var pendingPacketsOut = 0
    var pendingBytesIn = 0
    var pendingBytesOut = 0
    var pendingStreamFailures = 0
    private var lastCore = Counters()
    private var lastDrops: [WireError.Reason: Int] = [:]

    init(node: String, factory: any MetricsFactory) {
        let d = [("node", node)]
        func counter(_ label: String, _ extra: [(String, String)] = []) -> Counter {
            Counter(label: label, dimensions: d + extra, factory: factory)
        }
        func gauge(_ label: String, _ extra: [(String, String)] = []) -> Gauge {
            Gauge(label: label, dimensions: d + extra, factory: factory)
        }
        var byStatus: [MemberStatus: Gauge] = [:]
        for s in [MemberStatus.alive, .suspect, .failed, .left] {
            byStatus[s] = gauge("gossip_members", [("status", s.description)])
        }
        membersByStatus = byStatus
        probes = counter("gossip_probes")
        indirectProbes = counter("gossip_indirect_probes")
        suspicions = counter("gossip_suspicions")
        refutations = counter("gossip_refutations")
        pushPulls = counter("gossip_push_pulls")
        packetsIn = counter("gossip_packets", [("direction", "in")])
        packetsOut = counter("gossip_packets", [("direction", "out")])
        bytesIn = counter("gossip_bytes", [("direction", "in")])
        bytesOut = counter("gossip_bytes", [("direction", "out")])
        streamFailures = counter("gossip_stream_failures")
        var drops: [WireError.Reason: Counter] = [:]
        for r in WireError.Reason.allCases { drops[r] = counter("gossip_dropped", [("reason", r.rawValue)]) }
        dropped = drops
        localHealth = gauge("gossip_local_health")
        udpUnreachable = gauge("gossip_udp_unreachable")
        udpSendErrors = Dictionary(uniqueKeysWithValues: UDPSendFailure.allCases.map {
            ($0, counter("gossip_udp_send_errors_total", [("reason", $0.rawValue)]))
        })
        udpSendsRefused = Dictionary(uniqueKeysWithValues: DestinationPolicy.Refusal.allCases.map {
            ($0, counter("gossip_udp_sends_refused_total", [("reason", $0.rawValue)]))
        })
        udpRebinds = counter("gossip_udp_rebinds_total")
        streamRefused = Dictionary(uniqueKeysWithValues: StreamBudget.Refusal.allCases.map {
            ($0, counter("gossip_stream_refused_total", [("reason", $0.rawValue)]))
        })
        inboundConnections = gauge("gossip_stream_connections", [("direction", "inbound")])
        streamBufferedBytes = gauge("gossip_stream_buffered_bytes")
        refused = Dictionary(uniqueKeysWithValues: Refusal.allCases.map {
            ($0, counter("gossip_refused_total", [("reason", $0.description)]))
        })
        nameConflicts = counter("gossip_name_conflicts_total")
        queueDepth = Dictionary(uniqueKeysWithValues: BroadcastClass.allCases.map {
            ($0, gauge("gossip_broadcast_queue_depth", [("class", $0.description)]))
        })
        broadcastsDropped = Dictionary(uniqueKeysWithValues: BroadcastClass.allCases.map {
            ($0, counter("gossip_broadcasts_dropped_total", [("class", $0.description)]))
        })
        userEvents = Dictionary(uniqueKeysWithValues: ["fired", "delivered", "too_old"].map {
            ($0, counter("gossip_user_events_total", [("outcome", $0)]))
        })
        queries = Dictionary(uniqueKeysWithValues: ["asked", "received", "answered", "responses_received", "relayed"].map {
            ($0, counter("gossip_queries_total", [("outcome", $0)]))
        })
        eagerPushes = counter("gossip_eager_pushes_total")
        duplicates = counter("gossip_duplicates_total")
        requestsRefused = counter("gossip_requests_refused_total")
        eventClock = gauge("gossip_lamport_time", [("clock", "event")])
        queryClock = gauge("gossip_lamport_time", [("clock", "query")])
        stateRows = Dictionary(uniqueKeysWithValues: ["written", "applied", "duplicate", "unknown_owner"].map {
            ($0, counter("gossip_state_rows_total", [("outcome", $0)]))
        })
        stateRowsHeld = gauge("gossip_state_rows")
        stateVersion = gauge("gossip_state_version")
        stateFollowUps = counter("gossip_state_follow_ups_total")
        tombstonesCollected = counter("gossip_state_tombstones_collected_total")
    }

    // Rare events: counted straight away.
    func udpSendError(_ reason: UDPSendFailure) { udpSendErrors[reason]?.increment() }
    func udpSendRefused(_ reason: DestinationPolicy.Refusal) { udpSendsRefused[reason]?.increment() }
    func udpRebound() { udpRebinds.increment() }
    func streamRefused(_ reason: StreamBudget.Refusal) { streamRefused[reason]?.increment() }
    func nameConflict() { nameConflicts.increment() }

    func streams(inbound: Int, buffered: Int) {
        inboundConnections.record(inbound)
        streamBufferedBytes.record(buffered)
    }

    func members(_ all: [Member]) {
        var counts: [MemberStatus: Int] = [.alive: 0, .suspect: 0, .failed: 0, .left: 0]
        for m in all { counts[m.status, default: 0] += 1 }
        for (s, g) in membersByStatus { g.record(counts[s] ?? 0) }
    }

    func udpSuspectedBlocked(_ blocked: Bool) { udpUnreachable.record(blocked ? 1 : 0) }

    /// `stateRowsHeld`: live replicated-state rows held, all owners (the runtime counts them).
    func flush(_ instance: GossipInstance, wire: WireCounters, stateRowsHeld held: Int) {
        func bump(_ c: Counter, _ n: Int) { if n > 0 { c.increment(by: n) } }
        let core = instance.counters
        let cumulative: [(Counter?, KeyPath<Counters, Int>)] = [
            (probes, \.probes),
            (indirectProbes, \.indirectProbes),
            (suspicions, \.suspicionsRaised),
            (refutations, \.refutations),
            (pushPulls, \.pushPulls),
            (userEvents["fired"], \.userEventsFired),
            (userEvents["delivered"], \.userEventsDelivered),
            (userEvents["too_old"], \.tooOld),
            (queries["asked"], \.queriesAsked),
            (queries["received"], \.queriesReceived),
            (queries["answered"], \.queryResponsesSent),
            (queries["responses_received"], \.queryResponsesReceived),
            (queries["relayed"], \.relaysForwarded),
            (eagerPushes, \.eagerPushes),
            (duplicates, \.duplicates),
            (requestsRefused, \.requestsRefused),
            (stateRows["written"], \.stateRowsWritten),
            (stateRows["applied"], \.stateRowsApplied),
            (stateRows["duplicate"], \.stateRowDuplicates),
            (stateRows["unknown_owner"], \.stateRowsOfUnknownOwners),
            (stateFollowUps, \.stateFollowUps),
            (tombstonesCollected, \.tombstonesCollected),
        ]
        for (c, field) in cumulative { if let c { bump(c, core[keyPath: field] - lastCore[keyPath: field]) } }
        eventClock.record(Int64(clamping: instance.eventClock))
        queryClock.record(Int64(clamping: instance.queryClock))
        stateVersion.record(Int64(clamping: instance.stateVersion))
        stateRowsHeld.record(held)
        lastCore = core
        for c in BroadcastClass.allCases {
            queueDepth[c]?.record(instance.pendingBroadcasts(of: c))
            let dropped = instance.droppedBroadcasts(of: c)
            if let counter = broadcastsDropped[c] { bump(counter, dropped - lastBroadcastsDropped[c, default: 0]) }
            lastBroadcastsDropped[c] = dropped
        }
        bump(packetsIn, pendingPacketsIn)
        bump(packetsOut, pendingPacketsOut)
        bump(bytesIn, pendingBytesIn)
        bump(bytesOut, pendingBytesOut)
        bump(streamFailures, pendingStreamFailures)
        pendingPacketsIn = 0
        pendingPacketsOut = 0
        pendingBytesIn = 0
        pendingBytesOut = 0
        pendingStreamFailures = 0
        for (reason, count) in wire.nonZero {
            let delta = count - lastDrops[reason, default: 0]
            if delta > 0, let c = dropped[reason] { c.increment(by: delta) }
            lastDrops[reason] = count
        }
        for (reason, count) in core.refusals.nonZero {
            let delta = count - lastRefusals[reason, default: 0]
            if delta > 0, let c = refused[reason] { c.increment(by: delta) }
            lastRefusals[reason] = count
        }
        localHealth.record(instance.localHealth)
    }
}
