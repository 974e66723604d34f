import Addresses
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gossip
import Overlay

/// The Docker plugin's IPAM driver: addresses unique across hosts without a central store.
///
/// Each host hands out addresses only from blocks of the subnet it holds (`AddressBlocks`, 16
/// addresses each). A host claims a block with a Lamport-timed row and then asks every member
/// (`grapevine-ipam-claim` query); it holds the block only when every live member answered
/// and none holds or claims it earlier. Claims are ordered by (Lamport time, host), the
/// earliest first: a member that answered "free" has its clock pushed past the claim, so its
/// own later claim of that block is later, and loses (Lamport 1978, the mutual exclusion of
/// §5 with every member's reply). Two hosts that cannot see each other (a partition) can both
/// win the same free block; nothing else can make an address be given twice.
extension Agent {
    static let ipamQuery = "grapevine-ipam-claim"
    /// Blocks tried per address request before giving up (each try is one query round).
    static let claimAttempts = 8

    func requestPool(_ request: RequestPoolRequest) async throws(PluginError) -> RequestPoolReply {
        if request.V6 == true { throw PluginError("no_ipv6", "grapevine networks do not carry IPv6 yet") }
        guard let text = request.Pool, !text.isEmpty else {
            throw PluginError("no_subnet", "give the network a --subnet: grapevine does not pick one")
        }
        guard let subnet = try? Subnet(text), NetworkDefinition.prefixRange.contains(subnet.prefix),
              let blocks = AddressBlocks(subnet) else {
            throw PluginError("bad_subnet", "'\(text)' is not an IPv4 subnet of /8 to /29")
        }
        if let range = request.SubPool, !range.isEmpty {
            throw PluginError("unknown_option", "--ip-range is not supported; every host takes blocks of the whole subnet")
        }
        for key in (request.Options ?? [:]).keys {
            throw PluginError("unknown_option", "unknown IPAM option '\(key)'")
        }
        return RequestPoolReply(PoolID: subnet.description, Pool: subnet.description,
                                Data: ["com.docker.network.gateway": "\(blocks.gateway)/\(subnet.prefix)"])
    }

    func requestAddress(_ request: RequestAddressRequest) async throws(PluginError) -> RequestAddressReply {
        guard let subnet = try? Subnet(request.PoolID), let blocks = AddressBlocks(subnet) else {
            throw PluginError("unknown_pool", "unknown pool \(request.PoolID)")
        }
        if request.Options?["RequestAddressType"] == "com.docker.network.gateway" {
            return RequestAddressReply(Address: "\(request.Address.flatMap { $0.isEmpty ? nil : $0 } ?? blocks.gateway.description)/\(subnet.prefix)")
        }
        guard let vni = vniOfPool(subnet) else {
            throw PluginError("unknown_pool", "no grapevine network has subnet \(subnet) on this host")
        }
        if let text = request.Address, !text.isEmpty {
            guard let ip = IPAddress(text), case .v4(let raw) = ip, subnet.contains(ip), !blocks.isReserved(raw) else {
                throw PluginError("bad_address", "\(text) is not an assignable address of \(subnet)")
            }
            if let holder = holderOf(ip, in: vni) ?? leaseHolder(ip, vni) {
                throw PluginError("address_in_use", "\(ip) is already in use by \(holder)")
            }
            try await lease(ip, vni)
            // The address's block, when nobody holds it yet, becomes this host's, so that no
            // other host hands out its neighbours as if they were free. A block another host
            // holds lends the address: that host skips addresses held by any endpoint.
            if let index = blocks.index(of: ip), !isClaimed(vni, index) {
                do { try await claimBlock(vni: vni, blocks: blocks, index: index) } catch {
                    logger.info("the block of a chosen address is not claimed; the address stays lent",
                                metadata: ["network.vni": "\(vni)", "ipam.block": "\(index)", "ipam.error": "\(error.message)"])
                }
            }
            return RequestAddressReply(Address: "\(ip)/\(subnet.prefix)")
        }
        for _ in 0..<Self.claimAttempts {
            if let ip = blocks.nextFreeAddress(in: heldBlocks(vni), excluding: { self.isTaken($0, vni) }) {
                try await lease(ip, vni)
                return RequestAddressReply(Address: "\(ip)/\(subnet.prefix)")
            }
            try await claimBlock(vni: vni, blocks: blocks)
        }
        throw PluginError("exhausted", "no free address in \(subnet) after \(Self.claimAttempts) block claims")
    }

    func releaseAddress(_ request: ReleaseAddressRequest) async {
        guard let subnet = (try? Subnet(request.PoolID)), let vni = vniOfPool(subnet), let ip = IPAddress(request.Address) else { return }
        dockerState.leases[String(vni.value)]?[ip.description] = nil
        await saveDockerStateReported()
    }

    func vniOfPool(_ subnet: Subnet) -> VNI? {
        for d in dockerState.definitions.values where !d.deleted && d.subnet == subnet.description {
            return VNI(d.vni)
        }
        return replica.definitions().values.first { !$0.deleted && $0.subnet == subnet }?.vni
    }

    func heldBlocks(_ vni: VNI) -> [UInt32] {
        (dockerState.blocks[String(vni.value)] ?? [:]).keys.compactMap(UInt32.init).sorted()
    }

    /// Records the lease on disk before the address is handed out.
    /// - Throws: `PluginError` `store` when the write fails; the lease is then undone.
    func lease(_ ip: IPAddress, _ vni: VNI) async throws(PluginError) {
        dockerState.leases[String(vni.value), default: [:]][ip.description] = Date().timeIntervalSince1970
        do { try await saveDockerState() } catch {
            dockerState.leases[String(vni.value)]?[ip.description] = nil
            throw PluginError("store", "cannot record the lease of \(ip): \(error)")
        }
    }

    func leaseHolder(_ ip: IPAddress, _ vni: VNI) -> String? {
        dockerState.leases[String(vni.value)]?[ip.description] != nil ? "this host (leased)" : nil
    }

    /// Given out here, or held by any endpoint the replica knows (a user's `--ip` anywhere).
    func isTaken(_ raw: UInt32, _ vni: VNI) -> Bool {
        let ip = IPAddress.v4(raw)
        return leaseHolder(ip, vni) != nil || replica.endpoints.values.contains { $0.network == vni && $0.ipv4 == ip }
    }

    /// Claims one more block of `vni`'s subnet for this host (see the type's comment).
    /// - Throws: `PluginError` `exhausted` when no block is free, `claim_failed` when members
    ///   did not all answer.
    /// `index`: that block (a user's `--ip` is in it), else the next free one for this host.
    func claimBlock(vni: VNI, blocks: AddressBlocks, index wanted: UInt32? = nil) async throws(PluginError) {
        guard let index = wanted ?? blocks.nextFreeBlock(for: configuration.name, taken: { self.isClaimed(vni, $0) }) else {
            throw PluginError("exhausted", "no free address in \(blocks.subnet): every block of it is held by a host")
        }
        dockerState.clock = max(dockerState.clock, registry.clock.value) + 1
        let claim = Claim(time: dockerState.clock, owner: configuration.name)
        let key = BlockKey(vni: vni, index: index)
        pendingClaims[key] = claim
        defer { pendingClaims[key] = nil }
        let row = OverlayRow.block(BlockClaim(vni: vni, index: index, claim: claim))
        do {
            try await node.writeRow(table: OverlayRow.table, key: row.stateKey, value: try row.value())
        } catch {
            throw PluginError("claim_failed", "cannot publish the claim of a block: \(error)")
        }
        let granted = await askEveryMember(vni: vni, index: index, claim: claim)
        // A member's earlier claim may have arrived (as an answer or a row) while asking.
        if granted, pendingClaims[key] == claim {
            dockerState.blocks[String(vni.value), default: [:]][String(index)] = claim.time
            do { try await saveDockerState() } catch {
                throw PluginError("store", "cannot record the block claimed: \(error)")
            }
            metrics.blockClaimed(granted: true)
            logger.info("address block claimed", metadata: ["network.vni": "\(vni)", "ipam.block": "\(index)", "ipam.time": "\(claim.time)"])
            return
        }
        metrics.blockClaimed(granted: false)
        await publishReported("delete block") { try await self.node.deleteRow(table: OverlayRow.table, key: row.stateKey) }
        logger.info("address block claim lost", metadata: ["network.vni": "\(vni)", "ipam.block": "\(index)"])
    }

    /// Held or being claimed by any host, this one included, or a departed host's block still
    /// in quarantine.
    func isClaimed(_ vni: VNI, _ index: UInt32) -> Bool {
        let key = BlockKey(vni: vni, index: index)
        return replica.blockHolder(vni: vni, index: index) != nil
            || dockerState.blocks[String(vni.value)]?[String(index)] != nil
            || pendingClaims[key] != nil
            || quarantine[key].map { ContinuousClock.now < $0 } == true
    }

    /// True when every member the query reached, and still live, answered that the block is
    /// free for `claim`.
    func askEveryMember(vni: VNI, index: UInt32, claim: Claim) async -> Bool {
        let updates: Updates<QueryUpdate>
        do {
            updates = try await node.query(QueryRequest(name: Self.ipamQuery, payload: Self.claimPayload(vni, index, claim.time),
                                                         timeout: .seconds(5), relayFactor: 2))
        } catch {
            return false
        }
        var refused = false
        for await update in updates {
            switch update {
            case .response(_, let payload): if payload != Array("ok".utf8) { refused = true }
            case .finished(let end): return !refused && end == .allResponded
            case .ack: break
            }
        }
        return false
    }

    /// Answers another host's block claim: "ok" unless this host holds or claims that block
    /// with an earlier claim. Either way this host's clock moves past the claim.
    func answerClaim(_ payload: [UInt8], from origin: String) -> [UInt8] {
        guard payload.count == 15, let vni = VNI(UInt32(payload[0]) << 16 | UInt32(payload[1]) << 8 | UInt32(payload[2])) else {
            return Array("bad".utf8)
        }
        let index = payload[3..<7].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let time = payload[7..<15].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let theirs = Claim(time: time, owner: origin)
        dockerState.clock = max(dockerState.clock, time)
        registry.clock.observe(time)
        if origin == configuration.name { return Array("ok".utf8) }
        let key = BlockKey(vni: vni, index: index)
        if let held = dockerState.blocks[String(vni.value)]?[String(index)], Claim(time: held, owner: configuration.name) < theirs {
            return Array("held".utf8)
        }
        if let mine = pendingClaims[key] {
            if mine < theirs { return Array("held".utf8) }
            // Theirs is earlier: this host's claim loses.
            pendingClaims[key] = nil
        }
        if let holder = replica.blockHolder(vni: vni, index: index), holder < theirs { return Array("held".utf8) }
        return Array("ok".utf8)
    }

    static func claimPayload(_ vni: VNI, _ index: UInt32, _ time: UInt64) -> [UInt8] {
        var out: [UInt8] = [UInt8(truncatingIfNeeded: vni.value >> 16), UInt8(truncatingIfNeeded: vni.value >> 8), UInt8(truncatingIfNeeded: vni.value)]
        for s in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: index >> UInt32(s))) }
        for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: time >> UInt64(s))) }
        return out
    }

    /// Republishes this host's blocks (after a restart, from `docker.json`).
    func publishBlocks() async {
        for (vniText, held) in dockerState.blocks {
            guard let raw = UInt32(vniText), let vni = VNI(raw) else { continue }
            for (indexText, time) in held {
                guard let index = UInt32(indexText) else { continue }
                let row = OverlayRow.block(BlockClaim(vni: vni, index: index, claim: Claim(time: time, owner: configuration.name)))
                await publishReported("block") { try await self.node.writeRow(table: OverlayRow.table, key: row.stateKey, value: try row.value()) }
            }
        }
    }
}

/// One block of one network's subnet.
struct BlockKey: Hashable, Sendable {
    var vni: VNI
    var index: UInt32
}
