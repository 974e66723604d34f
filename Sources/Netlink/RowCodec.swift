import CNetlink
import Glibc

// Constants as the types the wire uses, so the hot loops do no conversions.
let familyBridge = UInt8(AF_BRIDGE)
let familyInet = UInt8(AF_INET)
let familyInet6 = UInt8(AF_INET6)
let typeNewNeighbor = UInt16(RTM_NEWNEIGH)
let typeDeleteNeighbor = UInt16(RTM_DELNEIGH)
let typeGetNeighbor = UInt16(RTM_GETNEIGH)
let typeNewLink = UInt16(RTM_NEWLINK)
let typeDeleteLink = UInt16(RTM_DELLINK)
let typeSetLink = UInt16(RTM_SETLINK)
let attrLinkName = UInt16(IFLA_IFNAME)
let attrLinkMaster = UInt16(IFLA_MASTER)
let attrLinkMTU = UInt16(IFLA_MTU)
let typeNewAddress = UInt16(RTM_NEWADDR)
let typeDeleteAddress = UInt16(RTM_DELADDR)
let attrAddressAddress = UInt16(IFA_ADDRESS)
let attrAddressLocal = UInt16(IFA_LOCAL)
let flagMaster = UInt8(NTF_MASTER)
let flagSelf = UInt8(NTF_SELF)
let statePermanent = UInt16(NUD_PERMANENT)
let attrDestination = UInt16(NDA_DST)
let attrLinkAddress = UInt16(NDA_LLADDR)
let attrVNI = UInt16(NDA_VNI)
let attrPort = UInt16(NDA_PORT)
let attrIfindex = UInt16(NDA_IFINDEX)
let attrSourceVNI = UInt16(NDA_SRC_VNI)
let attrProtocol = UInt16(NDA_PROTOCOL)
let requestFlag = UInt16(NLM_F_REQUEST)
let createReplace = UInt16(NLM_F_CREATE | NLM_F_REPLACE)
let createAppend = UInt16(NLM_F_CREATE | NLM_F_APPEND)

extension MessageWriter {
    /// Appends the one request that performs `change` on device `ifindex`.
    func append(_ change: RowChange, ifindex: Int32, sequence: UInt32, ownership: Ownership) {
        switch change {
        case .putFDB(let entry):
            // Plain create on an existing unicast MAC, and append on one, succeed and change
            // nothing; replace on the zero MAC is refused. So the MAC decides the flags.
            let mode = entry.isFlood ? createAppend : createReplace
            beginMessage(type: typeNewNeighbor, flags: requestFlag | mode, sequence: sequence)
            putNeighborHeader(family: familyBridge, ifindex: ifindex, state: statePermanent,
                              flags: flagSelf | ownership.fdbFlag)
            putFDBAttributes(entry)
        case .removeFDB(let entry):
            beginMessage(type: typeDeleteNeighbor, flags: requestFlag, sequence: sequence)
            putNeighborHeader(family: familyBridge, ifindex: ifindex, state: 0, flags: flagSelf)
            putFDBAttributes(entry)
        case .putNeighbor(let entry):
            beginMessage(type: typeNewNeighbor, flags: requestFlag | createReplace, sequence: sequence)
            putNeighborHeader(family: UInt8(entry.ip.family), ifindex: ifindex, state: statePermanent, flags: 0)
            putIP(attrDestination, entry.ip)
            putMAC(attrLinkAddress, entry.mac)
            putU8(attrProtocol, ownership.neighborProtocol)
        case .removeNeighbor(let ip):
            beginMessage(type: typeDeleteNeighbor, flags: requestFlag, sequence: sequence)
            putNeighborHeader(family: UInt8(ip.family), ifindex: ifindex, state: 0, flags: 0)
            putIP(attrDestination, ip)
        }
        endMessage()
    }

    private func putFDBAttributes(_ entry: FDBEntry) {
        putMAC(attrLinkAddress, entry.mac)
        putIP(attrDestination, entry.destination)
        if let vni = entry.vni { putU32(attrVNI, vni) }
        if let port = entry.port { putU16(attrPort, port.bigEndian) }
    }
}

/// The fields of an RTM_NEWNEIGH / RTM_DELNEIGH message, read without allocating.
struct NeighborMessage {
    var family: UInt8 = 0
    var ifindex: Int32 = 0
    var state: UInt16 = 0
    var flags: UInt8 = 0
    var mac: MACAddress?
    var ip: IPAddress?
    var vni: UInt32?
    var port: UInt16?
    var sourceVNI: UInt32?
    var protocolNumber: UInt8?

    init?(_ payload: UnsafeRawBufferPointer) {
        let headerSize = MemoryLayout<ndmsg>.size
        guard payload.count >= headerSize else { return nil }
        family = payload.load(fromByteOffset: 0, as: UInt8.self)
        ifindex = payload.loadUnaligned(fromByteOffset: 4, as: Int32.self)
        state = payload.loadUnaligned(fromByteOffset: 8, as: UInt16.self)
        flags = payload.load(fromByteOffset: 10, as: UInt8.self)
        var parsed = self
        forEachAttribute(in: payload, from: headerSize) { type, value in
            switch type {
            case attrLinkAddress where value.count == 6:
                var v: UInt64 = 0
                for i in 0..<6 { v = v << 8 | UInt64(value[i]) }
                parsed.mac = MACAddress(value: v)
            case attrDestination where value.count == 4:
                parsed.ip = .v4(UInt32(bigEndian: value.loadUnaligned(as: UInt32.self)))
            case attrDestination where value.count == 16:
                parsed.ip = .v6(UInt64(bigEndian: value.loadUnaligned(as: UInt64.self)),
                                UInt64(bigEndian: value.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            case attrVNI where value.count >= 4:
                parsed.vni = value.loadUnaligned(as: UInt32.self)
            case attrPort where value.count >= 2:
                parsed.port = UInt16(bigEndian: value.loadUnaligned(as: UInt16.self))
            case attrSourceVNI where value.count >= 4:
                parsed.sourceVNI = value.loadUnaligned(as: UInt32.self)
            case attrProtocol where value.count >= 1:
                parsed.protocolNumber = value[0]
            default:
                break
            }
        }
        self = parsed
    }

    /// The VXLAN driver's own rows carry NTF_SELF; rows of the bridge above it do not.
    func fdbRow(ownership: Ownership) -> FDBRow? {
        guard family == familyBridge, flags & flagSelf != 0, let mac else { return nil }
        return FDBRow(ifindex: ifindex, mac: mac, destination: ip, vni: vni, port: port,
                      sourceVNI: sourceVNI, state: state, flags: flags,
                      isOurs: flags & ownership.fdbFlag == ownership.fdbFlag)
    }

    func neighborRow(ownership: Ownership) -> NeighborRow? {
        guard family == familyInet || family == familyInet6, let ip else { return nil }
        return NeighborRow(ifindex: ifindex, ip: ip, mac: mac, state: state, flags: flags,
                           protocolNumber: protocolNumber,
                           isOurs: protocolNumber == ownership.neighborProtocol)
    }
}
