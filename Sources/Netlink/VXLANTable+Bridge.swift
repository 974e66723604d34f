import CNetlink
import Glibc

/// The bridge's side of a VXLAN port: its learning switch and the entries it learned there.
///
/// A bridge learns source MACs on every port unless told not to, the VXLAN port too (`master`
/// rows, separate from the VXLAN driver's own `self` rows). Such a row outlives a MAC that has
/// moved onto this host and keeps sending its frames into the overlay (Docs/NETLINK.md).
extension VXLANTable {
    /// Turns the bridge's learning on the port `ifindex` on or off (`bridge link set dev X
    /// learning off`). The device must be attached to a bridge.
    /// - Throws: `NetlinkError` with the kernel's code (`EOPNOTSUPP` for a device on no bridge).
    public func setBridgeLearning(port ifindex: Int32, _ on: Bool) throws(NetlinkError) {
        try request("set bridge learning \(on ? "on" : "off") on \(ifindex)") { writer, sequence in
            writer.beginMessage(type: typeSetLink, flags: requestFlag | UInt16(NLM_F_ACK), sequence: sequence)
            writer.putLinkHeader(family: familyBridge, ifindex: ifindex)
            let nested = writer.beginNested(UInt16(IFLA_PROTINFO))
            writer.putU8(UInt16(IFLA_BRPORT_LEARNING), on ? 1 : 0)
            writer.endNested(nested)
            writer.endMessage()
        }
    }

    /// The MACs the bridge learned on port `ifindex` (its dynamic `master` rows); rows an
    /// operator added (permanent or static) are left out.
    public func learnedBridgeMACs(port ifindex: Int32) throws(NetlinkError) -> [MACAddress] {
        var macs: [MACAddress] = []
        try dump(family: familyBridge, ifindex: ifindex, operation: "dump bridge fdb") { payload in
            // The bridge's rows carry no NTF_SELF (nor NTF_MASTER: `bridge` prints "master" from
            // NDA_MASTER); the VXLAN driver's own rows carry NTF_SELF.
            guard let message = NeighborMessage(payload), message.ifindex == ifindex,
                  message.flags & flagSelf == 0,
                  message.state & UInt16(NUD_PERMANENT | NUD_NOARP) == 0, let mac = message.mac else { return }
            macs.append(mac)
        } restart: { macs.removeAll(keepingCapacity: true) }
        return macs
    }

    /// Deletes the bridge's row for `mac` on port `ifindex` (one already gone is not an error).
    public func removeBridgeEntry(_ mac: MACAddress, port ifindex: Int32) throws(NetlinkError) {
        do {
            try request("delete bridge fdb \(mac) on \(ifindex)") { writer, sequence in
                writer.beginMessage(type: typeDeleteNeighbor, flags: requestFlag | UInt16(NLM_F_ACK), sequence: sequence)
                writer.putNeighborHeader(family: familyBridge, ifindex: ifindex, state: 0, flags: flagMaster)
                writer.putMAC(attrLinkAddress, mac)
                writer.endMessage()
            }
        } catch where error.code == -ENOENT {
            return
        }
    }

    /// Sends the one request `build` writes (it must ask for an ack) and waits for its answer.
    func request(_ operation: String, _ build: (MessageWriter, UInt32) -> Void) throws(NetlinkError) {
        let sequence = socket.reserveSequences(1)
        writer.reset()
        build(writer, sequence)
        try socket.send(writer.bytes, operation: operation)
        var answered: (code: Int32, text: String?)?
        // Bounded: notifications are not sent to this socket, so the answer comes within a few reads.
        for _ in 0..<16 where answered == nil {
            switch try socket.receive(into: receiveBuffer, operation: operation) {
            case .empty: throw NetlinkError.system(operation, errno: ETIMEDOUT, detail: "the kernel did not answer")
            case .overflow: throw NetlinkError.system(operation, errno: ENOBUFS)
            case .bytes(let count):
                try forEachMessage(in: UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<count])) { message in
                    guard message.sequence == sequence, message.type == UInt16(NLMSG_ERROR) else { return true }
                    answered = parseAcknowledgement(message)
                    return false
                }
            }
        }
        guard let answered else { throw NetlinkError.system(operation, errno: EPROTO_VALUE, detail: "no acknowledgement") }
        if answered.code != 0 { throw NetlinkError.system(operation, errno: answered.code, detail: answered.text) }
    }
}
