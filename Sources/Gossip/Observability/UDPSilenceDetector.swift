/// Tells when UDP is blocked while TCP still works, at any time, not only from the start.
///
/// The rule: in the last `window` probes this node sent, no UDP ack arrived, yet at least one
/// stream message arrived since the last ack (so peers are alive and reachable over TCP).
/// Then the detector turns on; the next ack turns it off, and it can turn on again later. A
/// plain value: the runtime feeds it and logs the transitions.
struct UDPSilenceDetector: Sendable, Equatable {
    enum Transition: Equatable, Sendable {
        /// UDP looks blocked: `probes` went out since the last ack, while `streams` arrived.
        case blocked(probes: Int, streams: Int)
        /// An ack arrived while the detector was on.
        case cleared
    }

    let window: Int
    private(set) var isBlocked = false
    private(set) var probesSinceAck = 0
    private(set) var streamsSinceAck = 0
    private var lastProbeTotal = 0

    init(window: Int) {
        self.window = max(1, window)
    }

    mutating func ackReceived() -> Transition? {
        probesSinceAck = 0
        streamsSinceAck = 0
        guard isBlocked else { return nil }
        isBlocked = false
        return .cleared
    }

    mutating func streamReceived() {
        streamsSinceAck += 1
    }

    /// Feeds the core's cumulative count of probes sent (read once per protocol period).
    mutating func probesSent(total: Int) -> Transition? {
        let delta = max(0, total - lastProbeTotal)
        lastProbeTotal = total
        probesSinceAck += delta
        guard !isBlocked, probesSinceAck >= window, streamsSinceAck > 0 else { return nil }
        isBlocked = true
        return .blocked(probes: probesSinceAck, streams: streamsSinceAck)
    }
}
