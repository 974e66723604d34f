import Addresses
import Overlay

/// The Docker plugin's IPAM driver: addresses unique across hosts without a central store.
///
/// The adapter between Docker's IPAM calls and this host's allocator owner (`AllocatorOwner`,
/// IPAM/): each network's subnet is cut into ranges each owned by one host, which alone hands
/// out addresses from them; a host without free space asks an owner to donate part of its
/// range (Docs/OVERLAY.md, "Address allocation by owned ranges"). Nothing here waits for a
/// round trip when the host owns free space, and nothing waits on agents that do not serve
/// Docker (they publish no allocator row).
///
/// Network creation on the host where the user runs `docker network create`: `RequestPool`
/// (subnet, `--ip-range`), then `RequestAddress` for `--gateway` and each `--aux-address`, all
/// before the network's definition exists; they build the pool that host's allocator will own
/// whole once its definition wins (`.create`). On the other hosts the agent makes the network
/// from the definition, and the pool (gateway and aux addresses included) comes from the
/// creator's allocator row.
///
/// Dual stack (`--ipv6`): dockerd asks for the IPv4 pool first, then the IPv6 one (`V6`); each
/// is a pool of its own, with its own allocator (`PoolKey`). Docker 20.10 always asks for an
/// IPv4 pool, so an IPv6-only request is refused at that first ask, naming the fix.
extension DockerDriver {
    func requestPool(_ request: RequestPoolRequest) async throws(PluginError) -> RequestPoolReply {
        let v6 = request.V6 == true
        guard let text = request.Pool, !text.isEmpty else {
            if v6 { throw PluginError("no_subnet", "give the network an IPv6 --subnet (for example --subnet fd10::/64): grapevine does not pick one") }
            // dockerd asks for the IPv4 pool first, also when the user gave only an IPv6 subnet.
            throw PluginError("no_subnet", "give the network an IPv4 --subnet: grapevine does not pick one, and Docker 20.10 networks always have IPv4, so a network with --ipv6 needs one beside its IPv6 --subnet")
        }
        let subnet: Subnet
        if v6 {
            guard let s = try? Subnet(text), !s.isIPv4, NetworkDefinition.prefixRange6.contains(s.prefix) else {
                throw PluginError("bad_subnet", "'\(text)' is not an IPv6 subnet of /\(NetworkDefinition.prefixRange6.lowerBound) to /\(NetworkDefinition.prefixRange6.upperBound)")
            }
            subnet = s
        } else {
            guard let s = try? Subnet(text), s.isIPv4, NetworkDefinition.prefixRange.contains(s.prefix) else {
                throw PluginError("bad_subnet", "'\(text)' is not an IPv4 subnet of /8 to /29")
            }
            subnet = s
        }
        var ipRange: Subnet?
        if let range = request.SubPool, !range.isEmpty {
            guard let r = try? Subnet(range) else { throw PluginError("bad_ip_range", "--ip-range '\(range)' is not a subnet") }
            ipRange = r
        }
        for key in (request.Options ?? [:]).keys {
            throw PluginError("unknown_option", "unknown IPAM option '\(key)'")
        }
        guard let ipam else { throw PluginError("no_ipam", "this agent does not serve Docker") }
        if await vniOfPool(subnet) == nil {
            // Made here: this host's dockerd asks for the pool before the network exists.
            var pool = PoolDefinition(subnet: subnet, ipRange: ipRange)
            do {
                pool.gateway = try pool.pool().address(1)
                _ = try pool.pool()
            } catch {
                throw PluginError("bad_ip_range", "\(error)")
            }
            ipam.definePool(pool)
            return RequestPoolReply(PoolID: subnet.description, Pool: subnet.description,
                                    Data: ["com.docker.network.gateway": "\(pool.gateway!)/\(subnet.prefix)"])
        }
        switch await ipam.gateway(of: subnet, requested: nil) {
        case .success(let gw):
            return RequestPoolReply(PoolID: subnet.description, Pool: subnet.description,
                                    Data: ["com.docker.network.gateway": "\(gw)/\(subnet.prefix)"])
        case .failure(let r):
            throw refused("RequestPool", r)
        }
    }

    func requestAddress(_ request: RequestAddressRequest) async throws(PluginError) -> RequestAddressReply {
        guard let subnet = try? Subnet(request.PoolID), let ipam else {
            throw PluginError("unknown_pool", "unknown pool \(request.PoolID)")
        }
        var address: IPAddress?
        if let text = request.Address, !text.isEmpty {
            guard let ip = IPAddress(text), subnet.contains(ip) else {
                throw PluginError("bad_address", "\(text) is not an address of \(subnet)")
            }
            address = ip
        }
        let result: Result<IPAddress, IPAMRefusal>
        if request.Options?["RequestAddressType"] == "com.docker.network.gateway" {
            result = await ipam.gateway(of: subnet, requested: address)
        } else if let vni = await vniOfPool(subnet) {
            // The network made here a moment ago may not have reached the replica yet.
            ipam.send(.definitions(await ipamDefinitions()))
            result = await ipam.request(PoolKey(vni, ipv6: !subnet.isIPv4), address: address)
        } else if let ip = address {
            // Before the network exists: an --aux-address of the pool being made.
            result = await ipam.aux(ip, in: subnet)
        } else {
            throw PluginError("unknown_pool", "no grapevine network has subnet \(subnet) on this host")
        }
        switch result {
        case .success(let ip): return RequestAddressReply(Address: "\(ip)/\(subnet.prefix)")
        case .failure(let r): throw refused("RequestAddress", r)
        }
    }

    func releaseAddress(_ request: ReleaseAddressRequest) async {
        guard let subnet = try? Subnet(request.PoolID), let vni = await vniOfPool(subnet), let ip = IPAddress(request.Address) else {
            // Nothing to release here, but a lease this names would stay: said, not dropped.
            logger.warning("ipam release names no address of a network on this host; nothing released",
                           metadata: ["ipam.pool": "\(request.PoolID)", "ipam.address": "\(request.Address)"])
            return
        }
        ipam?.send(.release(vni: vni, address: ip))
    }

    func refused(_ method: String, _ r: IPAMRefusal) -> PluginError {
        logger.info("ipam request refused", metadata: ["docker.method": "\(method)", "ipam.reason": "\(r.code)", "ipam.message": "\(r.message)"])
        return PluginError(r.code, r.message)
    }

    /// The winning definitions, with this host's own where the replica has none yet.
    func ipamDefinitions() async -> [VNI: NetworkDefinition] {
        Self.ipamDefinitions(await overlay.definitions(), own: published.ownDefinitions)
    }

    static func ipamDefinitions(_ winners: [VNI: NetworkDefinition], own: [VNI: NetworkDefinition]) -> [VNI: NetworkDefinition] {
        winners.merging(own) { winner, _ in winner }
    }

    /// The live network whose IPv4 subnet, or IPv6 subnet, is `subnet`.
    func vniOfPool(_ subnet: Subnet) async -> VNI? {
        for d in state.definitions.values where !d.deleted && (d.subnet == subnet.description || d.subnet6 == subnet.description) {
            return VNI(d.vni)
        }
        return await overlay.definitions().values.first { !$0.deleted && ($0.subnet == subnet || $0.subnet6 == subnet) }?.vni
    }
}
