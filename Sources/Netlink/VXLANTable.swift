import CNetlink
import Glibc

/// Writes and dumps the FDB and neighbour rows of VXLAN devices over a raw netlink socket.
///
/// One instance owns one socket and is meant for one task at a time (it is not Sendable).
public final class VXLANTable {
    public let namespace: NetworkNamespace
    public let ownership: Ownership
    /// Requests per `sendto`. The kernel handles a whole send before returning, and every failed
    /// request queues an error for us, so this bounds what the receive buffer must hold.
    public let requestsPerSend: Int

    let socket: RouteSocket
    let writer = MessageWriter(capacity: 256 << 10)
    let receiveBuffer: UnsafeMutableRawBufferPointer

    public init(namespace: NetworkNamespace = .current, ownership: Ownership = Ownership(),
                requestsPerSend: Int = 256) throws(NetlinkError) {
        self.namespace = namespace
        self.ownership = ownership
        self.requestsPerSend = max(1, requestsPerSend)
        self.socket = try RouteSocket(namespace: namespace, receiveBuffer: 8 << 20, sendBuffer: 4 << 20,
                                      receiveTimeoutSeconds: 10)
        // Large enough for any dump chunk the kernel builds (it sizes them to fit 32 KiB pages).
        self.receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 8)
    }

    deinit { receiveBuffer.deallocate() }

    // MARK: writing

    /// Sends `changes` for device `ifindex`, many per system call, and matches every error to
    /// the change that caused it by sequence number. A failed change does not stop the others.
    ///
    /// - Parameters:
    ///   - sparing: rows that someone else wrote; changes touching them are skipped and listed
    ///     in the report rather than sent.
    ///   - ignoringMissing: count removals of rows that are already gone as done.
    /// - Throws: only when the socket itself fails; per-row failures are in the report.
    public func apply(_ changes: [RowChange], device ifindex: Int32, sparing foreign: ForeignRows = ForeignRows(),
                      ignoringMissing: Bool = true) throws(NetlinkError) -> BatchReport {
        var report = BatchReport()
        report.requested = changes.count
        let checkForeign = !foreign.isEmpty
        // Change index of each request in the current send, by sequence offset.
        var sentIndices: [Int] = []
        sentIndices.reserveCapacity(requestsPerSend)
        var next = 0
        while next < changes.count {
            writer.reset()
            sentIndices.removeAll(keepingCapacity: true)
            let first = socket.reserveSequences(requestsPerSend)
            while next < changes.count, sentIndices.count < requestsPerSend {
                let change = changes[next]
                if checkForeign, foreign.protects(against: change) {
                    report.skippedForeign.append(change)
                } else {
                    writer.append(change, ifindex: ifindex, sequence: first &+ UInt32(sentIndices.count),
                                  ownership: ownership)
                    sentIndices.append(next)
                }
                next += 1
            }
            guard !sentIndices.isEmpty else { continue }
            // Only the last request asks for an ack: errors come back regardless, so the ack
            // marks the end of the send and successes cost no reply at all.
            writer.addFlagsToLastMessage(UInt16(NLM_F_ACK))
            try socket.send(writer.bytes, operation: "apply \(sentIndices.count) rows")
            report.sends += 1
            try collectAcknowledgements(first: first, indices: sentIndices, changes: changes,
                                        ignoringMissing: ignoringMissing, into: &report)
        }
        return report
    }

    private func collectAcknowledgements(first: UInt32, indices: [Int], changes: [RowChange],
                                         ignoringMissing: Bool, into report: inout BatchReport) throws(NetlinkError) {
        let last = first &+ UInt32(indices.count - 1)
        var reported = Set<Int>()
        var done = false
        // Bounded: every request yields at most one reply, plus one overflow notice.
        var reads = 0
        while !done, reads <= indices.count + 1 {
            reads += 1
            let received = try socket.receive(into: receiveBuffer, operation: "apply: acknowledgements")
            switch received {
            case .empty:
                throw NetlinkError.system("apply: acknowledgements", errno: ETIMEDOUT, detail: "the kernel did not answer")
            case .overflow:
                // Errors were dropped: we cannot tell which rows failed, so every row of this send
                // that did not report is uncertain, and the caller must resync.
                for (offset, index) in indices.enumerated() where !reported.contains(offset) {
                    report.failures.append(.init(index: index, change: changes[index], error: .system(
                        "\(changes[index])", errno: ENOBUFS, detail: "acknowledgement lost; dump and reconcile")))
                }
                return
            case .bytes(let count):
                try forEachMessage(in: UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<count])) { message throws(NetlinkError) in
                    guard message.type == UInt16(NLMSG_ERROR) else { return true }
                    let offset = Int(message.sequence &- first)
                    guard offset >= 0, offset < indices.count else { return true }
                    let (code, text) = parseAcknowledgement(message)
                    if code != 0 {
                        let index = indices[offset]
                        let change = changes[index]
                        let missing = code == -ENOENT
                        let isRemoval: Bool
                        switch change {
                        case .removeFDB, .removeNeighbor: isRemoval = true
                        default: isRemoval = false
                        }
                        if !(missing && isRemoval && ignoringMissing) {
                            report.failures.append(.init(index: index, change: change,
                                                         error: .system("\(change)", errno: code, detail: text)))
                        }
                        reported.insert(offset)
                    }
                    if message.sequence == last { done = true }
                    return true
                }
            }
        }
        if !done {
            throw NetlinkError.system("apply: acknowledgements", errno: EPROTO_VALUE, detail: "no acknowledgement for the last request")
        }
    }

    /// One change, throwing its error.
    public func apply(_ change: RowChange, device ifindex: Int32, ignoringMissing: Bool = false) throws(NetlinkError) {
        let report = try apply([change], device: ifindex, ignoringMissing: ignoringMissing)
        if let failure = report.failures.first { throw failure.error }
    }

    // MARK: dumping

    /// The VXLAN driver's FDB rows on `ifindex` (one per MAC and destination: a flood row with
    /// three VTEPs is three rows, and rows differing only by VNI stay apart).
    public func fdbRows(device ifindex: Int32) throws(NetlinkError) -> [FDBRow] {
        var rows: [FDBRow] = []
        let ownership = self.ownership
        try dump(family: familyBridge, ifindex: ifindex, operation: "dump fdb") { payload in
            if let message = NeighborMessage(payload), message.ifindex == ifindex,
               let row = message.fdbRow(ownership: ownership) {
                rows.append(row)
            }
        } restart: { rows.removeAll(keepingCapacity: true) }
        return rows
    }

    /// The IPv4 and IPv6 neighbour rows on `ifindex`.
    public func neighborRows(device ifindex: Int32) throws(NetlinkError) -> [NeighborRow] {
        var rows: [NeighborRow] = []
        let ownership = self.ownership
        for family in [familyInet, familyInet6] {
            try dump(family: family, ifindex: ifindex, operation: "dump neighbours") { payload in
                if let message = NeighborMessage(payload), message.ifindex == ifindex,
                   let row = message.neighborRow(ownership: ownership) {
                    rows.append(row)
                }
            } restart: { rows.removeAll { $0.ip.family == Int32(family) } }
        }
        return rows
    }

    /// Runs one RTM_GETNEIGH dump, restarting (a bounded number of times) when the kernel says
    /// the table changed under it (NLM_F_DUMP_INTR), since the result would be inconsistent.
    func dump(family: UInt8, ifindex: Int32, operation: String,
                      row: (UnsafeRawBufferPointer) -> Void, restart: () -> Void) throws(NetlinkError) {
        for _ in 0..<5 {
            let sequence = socket.reserveSequences(1)
            writer.reset()
            writer.beginMessage(type: typeGetNeighbor, flags: requestFlag | UInt16(NLM_F_DUMP), sequence: sequence)
            if family == familyBridge {
                // The FDB dump takes the port's ifindex in the header.
                writer.putNeighborHeader(family: family, ifindex: ifindex, state: 0, flags: 0)
            } else {
                // Strict neighbour dumps refuse a header ifindex and filter by attribute instead.
                writer.putNeighborHeader(family: family, ifindex: 0, state: 0, flags: 0)
                writer.putU32(attrIfindex, UInt32(bitPattern: ifindex))
            }
            writer.endMessage()
            try socket.send(writer.bytes, operation: operation)
            var finished = false
            var interrupted = false
            while !finished {
                switch try socket.receive(into: receiveBuffer, operation: operation) {
                case .empty: throw NetlinkError.system(operation, errno: ETIMEDOUT, detail: "the kernel did not answer")
                case .overflow: throw NetlinkError.system(operation, errno: ENOBUFS)
                case .bytes(let count):
                    if count == 0 { throw NetlinkError.system(operation, errno: EPROTO_VALUE, detail: "empty read") }
                    try forEachMessage(in: UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<count])) { message throws(NetlinkError) in
                        guard message.sequence == sequence else { return true }
                        if message.flags & UInt16(NLM_F_DUMP_INTR) != 0 { interrupted = true }
                        switch message.type {
                        case typeNewNeighbor:
                            row(message.payload)
                        case UInt16(NLMSG_DONE):
                            finished = true
                            return false
                        case UInt16(NLMSG_ERROR):
                            let (code, text) = parseAcknowledgement(message)
                            throw NetlinkError.system(operation, errno: code, detail: text)
                        default:
                            break
                        }
                        return true
                    }
                }
            }
            if !interrupted { return }
            restart()
        }
        throw NetlinkError.system(operation, errno: EAGAIN, detail: "table kept changing during the dump")
    }
}
