import GossipCore
import GossipWire
import Logging
import NIOCore
import NIOPosix

/// The UDP transport: one socket that outlives every send error.
///
/// SwiftNIO fails a datagram write without closing the socket only for `EMSGSIZE` and
/// `EHOSTUNREACH`; any other `sendmsg` error (`EAFNOSUPPORT`, `EINVAL`, `EACCES` for a
/// broadcast, `EPERM` from a firewall, `ENETUNREACH` while a link is down) closes the channel.
/// So, in this order: destinations the socket cannot use are refused before writing
/// (`DestinationPolicy`); each write has a promise, and its failure is counted and logged
/// against its destination; when the socket closes anyway while the node runs, the same
/// address and port are bound again, and the destination that closed it is refused for a while.
extension NodeRuntime {
    /// How long a destination whose send closed the socket is refused at first; each repeat
    /// doubles it, up to `maxDestinationCooldown`.
    static let destinationCooldown = Duration.seconds(30)
    static let maxDestinationCooldown = Duration.seconds(600)
    static let maxFailedDestinations = 4096

    func bindDatagramChannel(to address: SocketAddress) -> EventLoopFuture<any Channel> {
        let me = NIOLoopBound(self, eventLoop: loop)
        let receiveSize = max(2048, settings.packetBudget)
        return DatagramBootstrap(group: loop)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: receiveSize))
            .channelOption(.maxMessagesPerRead, value: 16)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DatagramHandler(runtime: me.value))
                }
            }
            .bind(to: address)
    }

    /// Makes `channel` the node's UDP socket and watches it: if it closes while the node runs,
    /// it is bound again.
    func adoptDatagramChannel(_ channel: any Channel) {
        udpGeneration += 1
        let generation = udpGeneration
        udp = channel
        if udpBound == nil { udpBound = channel.localAddress }
        destinationPolicy = DestinationPolicy(
            bound: channel.localAddress.flatMap(Address.init) ?? configuration.bindAddress,
            localBroadcasts: destinationPolicy.localBroadcasts)
        channel.closeFuture.assumeIsolated().whenComplete { _ in
            self.datagramChannelClosed(generation: generation)
        }
    }

    private func datagramChannelClosed(generation: Int) {
        guard generation == udpGeneration, isActive else { return }
        udp = nil
        datagramsPending = false
        logger.warning(
            "UDP socket closed under the node; binding \(udpBound.map { "\($0)" } ?? "?") again",
            metadata: ["gossip.udp.generation": "\(generation)"])
        rebindDatagramChannel()
    }

    private func rebindDatagramChannel() {
        guard isActive, udp == nil, let address = udpBound else { return }
        bindDatagramChannel(to: address).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                guard self.isActive else {
                    channel.close(promise: nil)
                    return
                }
                self.udpRebindAttempt = 0
                self.transport.udpRebinds += 1
                self.metrics.udpRebound()
                self.adoptDatagramChannel(channel)
                self.logger.warning(
                    "UDP socket bound again", metadata: ["gossip.udp.rebinds": "\(self.transport.udpRebinds)"])
            case .failure(let error):
                guard self.isActive else { return }
                self.udpRebindAttempt += 1
                let wait = TimeAmount.milliseconds(min(5_000, 50 << min(self.udpRebindAttempt, 7)))
                self.logger.error(
                    "cannot bind the UDP socket again; retrying",
                    metadata: [
                        "gossip.udp.address": "\(address)", "gossip.error": "\(error)",
                        "gossip.retry.ms": "\(wait.nanoseconds / 1_000_000)",
                    ])
                self.schedule(at: .now() + wait) { $0.rebindDatagramChannel() }
            }
        }
    }

    // MARK: receive

    func receiveDatagram(_ data: ByteBuffer, from source: SocketAddress) {
        // An empty datagram is another member's port check (`PortCheck.swift`): it only has
        // to arrive, so that no port unreachable comes back.
        guard isActive, data.readableBytes > 0 else { return }
        packetsIn += 1
        metrics.pendingPacketsIn += 1
        metrics.pendingBytesIn += data.readableBytes
        guard let from = Address(source) else { return }
        var packet = data
        received.removeAll(keepingCapacity: true)
        do {
            let skipped = try packetCodec.open(&packet, into: &received)
            packetCodec.counters.recordAccepted(skippedUnknown: skipped)
        } catch {
            received.removeAll(keepingCapacity: true)
            packetCodec.counters.recordDrop(error)
            refusedFromNetwork(error, from: from, what: "UDP packet")
            return
        }
        for m in received {
            guard case .ack = m else { continue }
            udpAcks += 1
            if udpSilence.ackReceived() == .cleared {
                metrics.udpSuspectedBlocked(false)
                logger.warning("UDP acks arrive again", metadata: ["gossip.peer.address": "\(from)"])
            }
            break
        }
        handle(.datagram(from: from, messages: received))
    }

    /// A packet or frame the codec refused. When the reason says the sender is configured for
    /// another cluster (key, label), an operator needs to hear it: a warning per source host,
    /// then a summary a minute. Plain garbage stays at debug.
    func refusedFromNetwork(_ error: WireError, from: Address, what: String) {
        guard let why = error.reason.configurationMismatch else {
            logger.debug(
                "refused \(what)", metadata: ["gossip.peer.address": "\(from)", "gossip.reason": "\(error.reason.rawValue)"])
            return
        }
        if wireRefusalReports.record(from.host, reason: error.reason.rawValue) == .report {
            logger.warning(
                "refused \(what) from \(from): \(why)",
                metadata: ["gossip.peer.address": "\(from)", "gossip.reason": "\(error.reason.rawValue)"])
        }
    }

    // MARK: send

    /// `checked: false` skips the destination checks, so that tests can make the kernel refuse
    /// a write and watch the transport survive it.
    func sendDatagram(_ messages: [Message], to: Address, checked: Bool = true) {
        if checked, let refusal = refusal(forDatagramTo: to) {
            transport.udpSendsRefused[refusal.rawValue, default: 0] += 1
            metrics.udpSendRefused(refusal)
            if sendRefusalReports.record(to, reason: refusal.rawValue) == .report {
                logger.warning(
                    "not sending to \(to): \(refusal)",
                    metadata: ["gossip.peer.address": "\(to)", "gossip.reason": "\(refusal.rawValue)"])
            }
            return
        }
        guard let udp else {
            countSendError(.socketClosed)
            return
        }
        guard let target = socketAddress(for: to) else {
            countSendError(.addressUnusable)
            return
        }
        var buffer = udp.allocator.buffer(capacity: settings.packetBudget)
        do {
            try packetCodec.encode(messages, into: &buffer, budget: settings.packetBudget)
        } catch {
            logger.debug("datagram not sent", metadata: ["gossip.peer.address": "\(to)", "gossip.error": "\(error)"])
            return
        }
        packetsOut += 1
        metrics.pendingPacketsOut += 1
        metrics.pendingBytesOut += buffer.readableBytes
        let generation = udpGeneration
        let promise = loop.makePromise(of: Void.self)
        promise.futureResult.assumeIsolated().whenFailure { error in
            self.datagramFailed(to: to, error, generation: generation)
        }
        udp.write(AddressedEnvelope(remoteAddress: target, data: buffer), promise: promise)
        datagramsPending = true
        if messages.contains(where: { if case .ping = $0 { true } else { false } }) { checkPort(of: to, at: target) }
    }

    private func refusal(forDatagramTo to: Address) -> DestinationPolicy.Refusal? {
        if let refusal = destinationPolicy.check(to) { return refusal }
        guard let failed = failedDestinations[to] else { return nil }
        if now < failed.until { return .recentlyFailed }
        return nil
    }

    func flushDatagrams() {
        guard datagramsPending else { return }
        datagramsPending = false
        udp?.flush()
    }

    /// A write failed. An `IOError` means NIO is closing the socket over it: the first such
    /// failure of a socket is the datagram that did it (NIO fails pending writes in order), and
    /// its destination is refused for a while; the writes failed with it are only collateral.
    /// (Should NIO close the socket over a read error instead, the first pending write is
    /// blamed: one innocent destination waits out a cooldown, nothing worse.)
    private func datagramFailed(to: Address, _ error: any Error, generation: Int) {
        var reason = UDPSendFailure(error)
        var closedSocket = false
        if error is IOError {
            if udpCulpritGeneration == generation {
                reason = .socketClosed
            } else {
                udpCulpritGeneration = generation
                closedSocket = true
                remember(failed: to)
            }
        }
        countSendError(reason)
        guard isActive, reason != .socketClosed else { return }
        if sendErrorReports.record(to, reason: reason.rawValue) == .report {
            logger.warning(
                "UDP send to \(to) failed: \(reason)\(closedSocket ? "; the socket closed over it, and this destination is refused for a while" : "")",
                metadata: [
                    "gossip.peer.address": "\(to)", "gossip.reason": "\(reason.rawValue)", "gossip.error": "\(error)",
                ])
        }
    }

    private func countSendError(_ reason: UDPSendFailure) {
        transport.udpSendErrors[reason.rawValue, default: 0] += 1
        metrics.udpSendError(reason)
    }

    private func remember(failed destination: Address) {
        let now = self.now
        if failedDestinations.count >= Self.maxFailedDestinations {
            failedDestinations = failedDestinations.filter { $0.value.until > now }
            if failedDestinations.count >= Self.maxFailedDestinations { failedDestinations.removeAll() }
        }
        let strikes = (failedDestinations[destination]?.strikes ?? 0) + 1
        var wait = Self.destinationCooldown
        for _ in 1..<min(strikes, 6) { wait = wait * 2 }
        failedDestinations[destination] = (now + min(wait, Self.maxDestinationCooldown), strikes)
    }

    func socketAddress(for address: Address) -> SocketAddress? {
        if let known = addressCache[address] { return known }
        var sendable = address
        // A dual-stack socket sends to IPv4 peers at their IPv4-mapped IPv6 address.
        if let bound = udpBound, case .v6 = bound, let v4 = address.ipv4 {
            sendable = Address(ipv6High: 0, low: 0xffff_0000_0000 | UInt64(v4), port: address.port)
        }
        guard let made = try? SocketAddress(sendable) else {
            logger.debug("unusable address", metadata: ["gossip.peer.address": "\(address)"])
            return nil
        }
        // Addresses come from the network: a bound keeps a stream of fake ones from growing it.
        if addressCache.count >= 4096 { addressCache.removeAll(keepingCapacity: true) }
        addressCache[address] = made
        return made
    }

    /// Once a minute at most: what was suppressed since the last summary.
    func logSummaries() {
        let now = self.now
        if let s = sendErrorReports.summary(now: now) {
            logger.warning(
                "UDP send errors in the last minute: \(s.text), to \(s.keys) destinations",
                metadata: ["gossip.udp.send_errors": "\(s.total)"])
        }
        if let s = sendRefusalReports.summary(now: now) {
            logger.warning(
                "UDP sends refused in the last minute: \(s.text), to \(s.keys) destinations",
                metadata: ["gossip.udp.sends_refused": "\(s.total)"])
        }
        if let s = wireRefusalReports.summary(now: now) {
            logger.warning(
                "packets and frames refused in the last minute: \(s.text), from \(s.keys) hosts",
                metadata: ["gossip.refused": "\(s.total)"])
        }
        if let s = coreRefusalReports.summary(now: now) {
            logger.warning(
                "input refused in the last minute: \(s.text)", metadata: ["gossip.refused": "\(s.total)"])
        }
        if let s = streamRefusalReports.summary(now: now) {
            logger.warning(
                "TCP connections refused or cut in the last minute: \(s.text), from \(s.keys) hosts",
                metadata: ["gossip.stream.refused": "\(s.total)"])
        }
    }
}
