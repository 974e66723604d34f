import GrapevineAPI
import Netlink
import Overlay

/// What the control API reads of the overlay (`networks`, `fdb`, `info`), built here from the
/// owner's state and handed out as values.
extension OverlayController {
    /// `grapevine networks`: each network this host takes part in, with its hosts and rows.
    func networkViews() -> [NetworkView] {
        devices.values.sorted { $0.network.name < $1.network.name }.map { device in
            let vni = device.network.vni
            var hosts: Set<String> = [configuration.name]
            for (name, state) in replica.hosts where state.live && state.host.networks.contains(vni) { hosts.insert(name) }
            let remote = replica.endpoints.values.filter { $0.network == vni && $0.owner != configuration.name }
            for e in remote where replica.hosts[e.owner]?.live == true { hosts.insert(e.owner) }
            return NetworkView(
                name: device.network.name, vni: vni.value, device: device.network.device, bridge: device.network.bridge,
                mtu: device.settings.mtu ?? 0, hosts: hosts.sorted(), localEndpoints: localCount(vni),
                remoteEndpoints: remote.count, desiredRows: desired.networks[vni]?.count ?? 0,
                conflicts: desired.conflicts.filter { $0.network == vni }.map(\.description))
        }
    }

    /// `grapevine fdb NETWORK`: the desired rows beside the kernel's.
    func fdb(network name: String) async throws(AgentError) -> FDBView {
        guard let config = networksByName[name], let device = devices[config.vni] else {
            throw .notFound("unknown_network", "no network named '\(name)'")
        }
        if replicaChanged {
            replicaChanged = false
            updateDesired()
        }
        let rows = desired.networks[config.vni] ?? NetworkRows()
        let observed: ObservedRows
        do {
            guard let o = try await kernel.observe(device) else {
                throw AgentError.internalError("kernel", "device \(device.network.device) is missing")
            }
            observed = o.rows.owningFlood(ownFlood(config.vni))
        } catch let e as AgentError {
            throw e
        } catch {
            throw .internalError("kernel", "\(error)")
        }
        let lines = FDBComparison.lines(desired: rows, observed: observed)
        return FDBView(network: name, vni: config.vni.value, device: device.network.device, lines: lines,
                       inSync: lines.allSatisfy { !["missing", "wrong", "extra"].contains($0.status) })
    }

    /// What `grapevine info` shows of the overlay.
    struct Status: Sendable {
        var networks: Int
        var replicatedRows: Int
        var reconciles: UInt64
        var rowsWritten: UInt64
        var driftRepairs: UInt64
        var netlinkErrors: UInt64
        var underlay: UnderlayView
    }

    func status() -> Status {
        Status(networks: devices.count, replicatedRows: replica.endpoints.count + replica.hosts.count, reconciles: reconciles,
               rowsWritten: rowsWritten, driftRepairs: driftRepairs, netlinkErrors: netlinkErrors, underlay: underlayView())
    }
}
