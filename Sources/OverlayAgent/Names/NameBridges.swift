import Addresses
import Netlink
import Overlay

/// How a query gets from a container to the name service, on every host, for every
/// grapevine network (`--internal` ones included), with no per-container step:
///
/// - dockerd dials the daemon's `dns` server (`dns_address`) from inside the container's
///   network namespace. Join gives each container a connected route to that address on its
///   grapevine interface (`nameServiceRoutes`), so the query leaves by the overlay interface
///   with the container's overlay address as its source (which is how the name service knows
///   the asker's network), also when Docker's gateway bridge holds the default route.
/// - Each local grapevine bridge carries the address (/32), so this host answers the ARP for
///   it (the VXLAN device's proxy mode keeps the ARP off the underlay), and the network's
///   gateway address with the subnet's prefix, which gives this host the connected route the
///   answer goes back on (and makes the gateway answer on every host).
extension Agent {
    /// The Join reply's static routes: the name service's address as a connected /32; nil
    /// without a name service (`serving`).
    static func nameServiceRoutes(_ configuration: AgentConfiguration, serving: Bool) -> [DockerJoinReply.StaticRoute]? {
        guard serving, let text = configuration.dnsAddress, let listen = NameSetup.socketAddress(text),
              let ip = listen.ipAddress.flatMap(IPAddress.init), case .v4 = ip, ip.isUsableUnicast else { return nil }
        return [DockerJoinReply.StaticRoute(Destination: "\(ip)/32", RouteType: 1)]
    }
}

extension OverlayController {
    /// The addresses each local bridge needs: bridge name → (address, prefix).
    func nameBridgeAddresses() -> [String: [BridgeAddress]] {
        guard names != nil, let text = configuration.dnsAddress, let listen = NameSetup.socketAddress(text),
              let ip = listen.ipAddress.flatMap(IPAddress.init), case .v4 = ip, ip.isUsableUnicast else { return [:] }
        var out: [String: [BridgeAddress]] = [:]
        for (vni, device) in devices {
            var wanted = [BridgeAddress(ip: ip, prefix: 32)]
            if let definition = replica.definition(of: vni), !definition.deleted, let blocks = AddressBlocks(definition.subnet) {
                wanted.append(BridgeAddress(ip: blocks.gateway, prefix: definition.subnet.prefix))
            }
            out[device.network.bridge] = wanted
        }
        return out
    }

    /// Puts the addresses on the bridges when the wanted set changed (or `force`: the timer,
    /// for a bridge made anew by a repair). On the kernel worker's thread: netlink blocks.
    func addressBridgesForNames(force: Bool = false) async {
        guard let names else { return }
        let wanted = nameBridgeAddresses()
        guard names.bridgesChanged(wanted) || force, !wanted.isEmpty else { return }
        let failed: [(bridge: String, address: BridgeAddress, error: NetlinkError)]
        do {
            failed = try await kernel.run { links, _ throws(NetlinkError) in
                var failed: [(bridge: String, address: BridgeAddress, error: NetlinkError)] = []
                for (bridge, addresses) in wanted.sorted(by: { $0.key < $1.key }) {
                    for a in addresses {
                        do throws(NetlinkError) { try links.ensureAddress(a.ip, prefix: a.prefix, on: bridge) } catch { failed.append((bridge, a, error)) }
                    }
                }
                return failed
            }
        } catch {
            logger.warning("no netlink socket for the name service's addresses", metadata: ["netlink.error": "\(error)"])
            return
        }
        for f in failed {
            logger.warning("name service address not put on a bridge", metadata: [
                "network.bridge": "\(f.bridge)", "dns.address": "\(f.address.ip)/\(f.address.prefix)", "netlink.error": "\(f.error)",
            ])
        }
    }
}

struct BridgeAddress: Hashable, Sendable {
    var ip: IPAddress
    var prefix: Int
}
