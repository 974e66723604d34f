public import GossipCore
public import GossipWire

/// A node's counters at one moment. Prints every counter by its name.
public struct NodeStatistics: Sendable, Equatable, CustomStringConvertible {
    /// The advertised address (with the port actually bound).
    public var address: Address
    public var core: Counters
    /// What the packet and stream decoders accepted and refused, by reason.
    public var wire: WireCounters
    public var localHealth: Int
    public var incarnation: UInt64
    /// Datagrams that carried an ack: zero while others answer over TCP means UDP is blocked.
    public var udpAcks: Int
    public var streamMessagesIn: Int
    public var packetsIn: Int
    public var packetsOut: Int
    /// Snapshot files written (with `snapshotPath`); one more after each completed write.
    public var snapshotsWritten: Int
    /// Keyring files written (with `keyringPath`) after a change of the keyring; the first,
    /// written by `start()` when there was none, is not counted.
    public var keyringsWritten = 0
    /// What the UDP socket and the TCP connections ran into.
    public var transport: TransportCounters
    /// Keyring operations applied and refused.
    public var keyOperations = KeyOperationCounters()
    /// Live replicated-state rows held, all owners (this node's own included).
    public var stateRowsHeld = 0

    /// Datagram writes that failed, all reasons.
    public var udpSendErrors: Int { transport.udpSendErrors.values.reduce(0, +) }
    /// Datagrams not written because the destination is unusable, all reasons.
    public var udpSendsRefused: Int { transport.udpSendsRefused.values.reduce(0, +) }
    /// Times the UDP socket closed under the node and was bound again.
    public var udpRebinds: Int { transport.udpRebinds }

    public var description: String {
        "address=\(address) incarnation=\(incarnation) localHealth=\(localHealth) udpAcks=\(udpAcks) "
            + "streamMessagesIn=\(streamMessagesIn) packetsIn=\(packetsIn) packetsOut=\(packetsOut) "
            + "snapshotsWritten=\(snapshotsWritten) keyringsWritten=\(keyringsWritten) core={\(core)} wire={\(wire)} transport={\(transport)} keyOperations={\(keyOperations)} stateRowsHeld=\(stateRowsHeld)"
    }
}

/// Counters of the transport, by reason. The reason strings are the metric labels
/// (`gossip_udp_send_errors_total{reason}`, `gossip_udp_sends_refused_total{reason}`,
/// `gossip_stream_refused_total{reason}`).
public struct TransportCounters: Sendable, Equatable, CustomStringConvertible {
    /// Failed datagram writes: `host_unreachable`, `network_unreachable`, `not_permitted`,
    /// `address_unusable`, `message_too_large`, `no_buffers`, `connection_refused`,
    /// `socket_closed` (lost with a socket another write closed), `other`.
    public var udpSendErrors: [String: Int] = [:]
    /// Datagrams refused before writing: `wrong_family`, `port_zero`, `unspecified`,
    /// `broadcast`, `multicast`, `reserved`, `not_loopback`, `link_local`, `recently_failed`.
    public var udpSendsRefused: [String: Int] = [:]
    public var udpRebinds = 0
    /// ICMP port-unreachable errors from a destination host itself, handed to the core as
    /// evidence (`Counters.unreachableEvidence` says how many it took); other ICMP errors.
    public var portUnreachable = 0
    public var otherICMPErrors = 0
    /// TCP connections refused or closed by a limit: `connection_limit`, `host_connection_limit`,
    /// `buffer_limit`, `host_buffer_limit`, `frame_too_large`, `first_frame_timeout`,
    /// `idle_timeout`, `lifetime`.
    public var streamsRefused: [String: Int] = [:]
    /// Inbound TCP connections open now.
    public var inboundConnections = 0
    /// Bytes reserved by TCP connections now.
    public var streamBufferedBytes = 0
    /// Whether the node currently believes UDP is blocked while TCP works.
    public var udpSuspectedBlocked = false

    public init() {}

    public var description: String {
        func byReason(_ d: [String: Int]) -> String {
            "{" + d.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "}"
        }
        return "udpSendErrors=\(byReason(udpSendErrors)) udpSendsRefused=\(byReason(udpSendsRefused)) "
            + "udpRebinds=\(udpRebinds) portUnreachable=\(portUnreachable) otherICMPErrors=\(otherICMPErrors) streamsRefused=\(byReason(streamsRefused)) "
            + "inboundConnections=\(inboundConnections) streamBufferedBytes=\(streamBufferedBytes) "
            + "udpSuspectedBlocked=\(udpSuspectedBlocked)"
    }
}
