import CNetlink
import Glibc

/// A change to FDB or neighbour rows, or to a device, as the kernel announced it.
public enum NeighborEvent: Sendable, Hashable, CustomStringConvertible {
    case fdbAdded(FDBRow)
    case fdbRemoved(FDBRow)
    case neighborAdded(NeighborRow)
    case neighborRemoved(NeighborRow)
    /// A device appeared, changed (up, down, attached to or detached from a bridge) or was
    /// deleted; only from a monitor made with `links: true`.
    case link(LinkEvent)
    /// An address added to or removed from a device; only from a monitor made with
    /// `addresses: true`.
    case address(AddressEvent)
    /// Notifications were dropped (the socket overflowed, a buffer the kernel sent could not be
    /// parsed, or the consumer fell too far behind): what came before is no longer a complete
    /// picture, so dump and reconcile.
    case eventsLost

    public var description: String {
        switch self {
        case .fdbAdded(let row): return "added \(row)"
        case .fdbRemoved(let row): return "removed \(row)"
        case .neighborAdded(let row): return "added \(row)"
        case .neighborRemoved(let row): return "removed \(row)"
        case .link(let event): return "\(event)"
        case .address(let event): return "\(event)"
        case .eventsLost: return "events lost"
        }
    }
}

/// A device as an RTM_NEWLINK / RTM_DELLINK notification shows it.
public struct LinkEvent: Sendable, Hashable, CustomStringConvertible {
    public var ifindex: Int32
    public var name: String
    /// The bridge (or other master) the device is attached to; nil when it is on none.
    public var masterIndex: Int32?
    public var isUp: Bool
    /// The device was deleted.
    public var removed: Bool
    /// The device's MTU in bytes (IFLA_MTU); nil when the notification carries none (a
    /// bridge's port announcement).
    public var mtu: UInt32?

    public init(ifindex: Int32, name: String, masterIndex: Int32?, isUp: Bool, removed: Bool, mtu: UInt32? = nil) {
        self.ifindex = ifindex
        self.name = name
        self.masterIndex = masterIndex
        self.isUp = isUp
        self.removed = removed
        self.mtu = mtu
    }

    public var description: String {
        removed ? "link \(name) (\(ifindex)) deleted"
            : "link \(name) (\(ifindex)) \(isUp ? "up" : "down") master \(masterIndex.map { "\($0)" } ?? "none")"
    }
}

/// Kernel notifications for FDB and neighbour rows (RTNLGRP_NEIGH), as an `AsyncSequence`.
///
/// Subscribed when created: nothing that happens after `init` returns is missed without an
/// `.eventsLost` in its place. A dedicated thread reads the socket, so a slow consumer does not
/// stall the kernel's queue; the thread stops when the sequence is dropped or its task cancelled.
///
/// The sequence ends only by throwing the `NetlinkError` that stopped the thread (a receive or
/// `poll` that failed): a consumer that must keep following the kernel makes a new monitor
/// and resyncs, since everything between the two is unseen.
public struct NeighborMonitor: AsyncSequence, Sendable {
    public typealias Element = NeighborEvent
    public typealias Failure = any Error

    private let stream: AsyncThrowingStream<NeighborEvent, any Error>

    /// - Parameters:
    ///   - device: only events for this ifindex; nil for every device.
    ///   - receiveBuffer: kernel socket buffer in bytes; small values make overflow (and thus
    ///     `.eventsLost`) likely, which the tests use on purpose.
    ///   - bufferedEvents: events held for a slow consumer before `.eventsLost` replaces them.
    ///   - links: also report devices (`.link`), every device of the namespace whatever `device` says.
    ///   - addresses: also report IPv4 and IPv6 addresses added and removed (`.address`), on
    ///     every device whatever `device` says.
    public init(namespace: NetworkNamespace = .current, device: Int32? = nil, ownership: Ownership = Ownership(),
                receiveBuffer: Int = 4 << 20, bufferedEvents: Int = 1 << 16, links: Bool = false,
                addresses: Bool = false) throws(NetlinkError) {
        let groups = UInt32(RTMGRP_NEIGH) | (links ? UInt32(RTMGRP_LINK) : 0)
            | (addresses ? UInt32(RTMGRP_IPV4_IFADDR) | UInt32(RTMGRP_IPV6_IFADDR) : 0)
        let socket = try RouteSocket(namespace: namespace, groups: groups,
                                     receiveBuffer: receiveBuffer, sendBuffer: 64 << 10)
        let wake = try WakeUp()
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: NeighborEvent.self, throwing: (any Error).self,
            bufferingPolicy: .bufferingOldest(Swift.max(1, bufferedEvents)))
        let reader = MonitorReader(socket: socket, wake: wake, device: device, ownership: ownership,
                                   continuation: continuation)
        continuation.onTermination = { @Sendable (_: AsyncThrowingStream<NeighborEvent, any Error>.Continuation.Termination) in
            wake.signal()
        }
        try reader.start()
        self.stream = stream
    }

    public func makeAsyncIterator() -> AsyncThrowingStream<NeighborEvent, any Error>.AsyncIterator {
        stream.makeAsyncIterator()
    }
}

/// Owns the socket and the wake-up descriptor from `start` on; only its thread touches them
/// afterwards, which is what makes the unchecked sendability sound.
private final class MonitorReader: @unchecked Sendable {
    private let socket: RouteSocket
    private let wake: WakeUp
    private let device: Int32?
    private let ownership: Ownership
    private let continuation: AsyncThrowingStream<NeighborEvent, any Error>.Continuation
    private var lostPending = false

    init(socket: RouteSocket, wake: WakeUp, device: Int32?, ownership: Ownership,
         continuation: AsyncThrowingStream<NeighborEvent, any Error>.Continuation) {
        self.socket = socket
        self.wake = wake
        self.device = device
        self.ownership = ownership
        self.continuation = continuation
    }

    func start() throws(NetlinkError) {
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<MonitorReader>.fromOpaque(raw).takeRetainedValue().run()
            return nil
        }, box.toOpaque())
        guard rc == 0 else {
            box.release()
            throw NetlinkError.system("monitor: pthread_create", errno: rc)
        }
        pthread_detach(thread)
    }

    private func run() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 8)
        var failure: NetlinkError?
        defer {
            buffer.deallocate()
            continuation.finish(throwing: failure)
        }
        var fds = [pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wake.readEnd, events: Int16(POLLIN), revents: 0)]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                failure = NetlinkError.lastSystemError("monitor: poll")
                return
            }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            let received: RouteSocket.Received
            do {
                received = try socket.receive(into: buffer, operation: "monitor")
            } catch {
                failure = error
                return
            }
            switch received {
            case .empty:
                continue
            case .overflow:
                deliver(.eventsLost)
            case .bytes(let count):
                // A buffer that cannot be walked to its end lost what followed the bad header.
                let complete = (try? forEachMessage(in: UnsafeRawBufferPointer(rebasing: buffer[0..<count])) { message in
                    if let event = decode(message) { deliver(event) }
                    return true
                }) ?? false
                if !complete { deliver(.eventsLost) }
            }
        }
    }

    private func decode(_ message: RawMessage) -> NeighborEvent? {
        let added: Bool
        switch message.type {
        case typeNewNeighbor: added = true
        case typeDeleteNeighbor: added = false
        case typeNewLink, typeDeleteLink: return decodeLink(message).map(NeighborEvent.link)
        case typeNewAddress, typeDeleteAddress: return decodeAddress(message).map(NeighborEvent.address)
        default: return nil
        }
        guard let parsed = NeighborMessage(message.payload) else { return nil }
        if let device, parsed.ifindex != device { return nil }
        if let row = parsed.fdbRow(ownership: ownership) {
            return added ? .fdbAdded(row) : .fdbRemoved(row)
        }
        if let row = parsed.neighborRow(ownership: ownership) {
            return added ? .neighborAdded(row) : .neighborRemoved(row)
        }
        return nil
    }

    /// An RTM_NEWLINK / RTM_DELLINK: `ifinfomsg` (16 bytes), then IFLA_IFNAME and IFLA_MASTER.
    private func decodeLink(_ message: RawMessage) -> LinkEvent? {
        let payload = message.payload
        guard payload.count >= 16 else { return nil }
        let ifindex = payload.loadUnaligned(fromByteOffset: 4, as: Int32.self)
        let flags = payload.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        var name = ""
        var master: Int32?
        var mtu: UInt32?
        forEachAttribute(in: payload, from: 16) { type, value in
            switch type {
            case attrLinkName: name = String(decoding: value.prefix(while: { $0 != 0 }), as: UTF8.self)
            case attrLinkMTU where value.count >= 4: mtu = value.loadUnaligned(as: UInt32.self)
            case attrLinkMaster where value.count >= 4:
                let index = value.loadUnaligned(as: Int32.self)
                master = index > 0 ? index : nil
            default: break
            }
        }
        // The bridge announces a port leaving it as an AF_BRIDGE RTM_DELLINK of the port: the
        // device is still there, on no bridge.
        if payload[0] == familyBridge, message.type == typeDeleteLink {
            return LinkEvent(ifindex: ifindex, name: name, masterIndex: nil, isUp: flags & UInt32(IFF_UP) != 0, removed: false)
        }
        return LinkEvent(ifindex: ifindex, name: name, masterIndex: master, isUp: flags & UInt32(IFF_UP) != 0,
                         removed: message.type == typeDeleteLink, mtu: payload[0] == familyBridge ? nil : mtu)
    }

    /// An RTM_NEWADDR / RTM_DELADDR: `ifaddrmsg` (8 bytes: family, prefix length, flags, scope,
    /// ifindex), then IFA_LOCAL (the device's own address; IPv4) and IFA_ADDRESS (the peer's on a
    /// point-to-point link, else the same; the only one IPv6 sends).
    private func decodeAddress(_ message: RawMessage) -> AddressEvent? {
        let payload = message.payload
        guard payload.count >= 8 else { return nil }
        let family = payload[0]
        let ifindex = payload.loadUnaligned(fromByteOffset: 4, as: Int32.self)
        var local: IPAddress?
        var address: IPAddress?
        forEachAttribute(in: payload, from: 8) { type, value in
            let ip: IPAddress? = switch (family, value.count) {
            case (familyInet, 4): .v4(UInt32(bigEndian: value.loadUnaligned(as: UInt32.self)))
            case (familyInet6, 16): IPAddress(v6Bytes: Array(value)[...])
            default: nil
            }
            if type == attrAddressLocal { local = ip } else if type == attrAddressAddress { address = ip }
        }
        guard let ip = local ?? address else { return nil }
        return AddressEvent(ifindex: ifindex, ip: ip, removed: message.type == typeDeleteAddress)
    }

    /// When the consumer's buffer is full, events are dropped and one `.eventsLost` takes their
    /// place as soon as there is room, so the consumer always learns that it must resync.
    private func deliver(_ event: NeighborEvent) {
        if lostPending {
            guard case .enqueued = continuation.yield(.eventsLost) else { return }
            lostPending = false
        }
        switch continuation.yield(event) {
        case .dropped:
            lostPending = true
        case .enqueued, .terminated:
            break
        @unknown default:
            break
        }
    }
}

/// A socket pair that tells the reader thread to stop. Shared by the thread and the stream's
/// termination handler, and closed only when both are done with it, so neither can write to a
/// descriptor number that has been reused.
private final class WakeUp: Sendable {
    let readEnd: Int32
    let writeEnd: Int32

    init() throws(NetlinkError) {
        var ends: [Int32] = [-1, -1]
        // socketpair takes SOCK_CLOEXEC directly; pipe2 is hidden behind _GNU_SOURCE in Glibc.
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        guard socketpair(AF_UNIX, type, 0, &ends) == 0 else { throw NetlinkError.lastSystemError("monitor: socketpair") }
        readEnd = ends[0]
        writeEnd = ends[1]
    }

    func signal() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }
}
