import Overlay

/// The networks this host takes part in, as the Docker driver asks for them: devices made and
/// removed, the host row that says which, and what the driver reads of the replica.
///
/// Making, renaming and removing a network run one at a time (`networkChanges`): each sees the
/// devices as the one before it left them, so a failed make undoes only its own device.
extension OverlayController {
    /// Makes the devices of a Docker network and announces that this host takes part in it.
    func takePart(in definition: NetworkDefinition) async throws {
        try await networkChanges.run {
            guard devices[definition.vni] == nil else { return }
            let name = definition.name.isEmpty ? "vni-\(definition.vni.value)" : definition.name
            let network = NetworkConfiguration(name: name, vni: definition.vni)
            let mtu = definition.mtu.map { min($0, underlay.deviceMTU) } ?? underlay.deviceMTU
            if let wanted = definition.mtu, wanted > mtu {
                logger.warning("a network's MTU is larger than this host's underlay carries; its devices get less", metadata: [
                    "network.vni": "\(definition.vni)", "network.mtu": "\(wanted)", "overlay.mtu": "\(mtu)",
                ])
            }
            let device = NetworkDevice(network: network, vtep: vtep, port: UInt16(configuration.vxlanPort), mtu: mtu)
            removalOwed[definition.vni] = nil
            do { try await ensureDevice(device) } catch {
                // A failed ensure may have made part of the devices: nothing half-made stays.
                await removeDevices(device)
                throw error
            }
            devices[definition.vni] = device
            networksByName[name] = network
            networkMTU[definition.vni] = definition.mtu
            do { try await publishHostRow() } catch {
                // Nothing half-made: the network is not this host's until its host row says so.
                devices[definition.vni] = nil
                networksByName[name] = nil
                networkMTU[definition.vni] = nil
                await removeDevices(device)
                throw error
            }
            replicaChanged = true
            schedule(definition.vni, .device)
        }
    }

    func renameNetwork(_ vni: VNI, to name: String) async throws {
        try await networkChanges.run {
            guard var device = devices[vni], device.network.name != name else { return }
            networksByName[device.network.name] = nil
            device.network.name = name
            devices[vni] = device
            networksByName[name] = device.network
            try await registry.renameNetwork(vni.value, to: name)
        }
    }

    func stopTakingPart(in vni: VNI) async {
        await networkChanges.run {
            guard let device = devices.removeValue(forKey: vni) else { return }
            networksByName[device.network.name] = nil
            networkMTU[vni] = nil
            lastApplied[vni] = nil
            bridgePorts[vni] = nil
            do { try await publishHostRow() } catch {
                logger.warning("host row not updated after leaving a network; tried again", metadata: ["network.vni": "\(vni)", "gossip.error": "\(error)"])
                retryLater(vni, "host row not published")
            }
            await removeDevices(device)
        }
    }

    /// Deletes a network's devices; when that fails, the next reconcile of its VNI (after a
    /// backoff, or the timer's) tries again, so no device of a network this host left stays.
    func removeDevices(_ device: NetworkDevice) async {
        let vni = device.network.vni
        do {
            try await kernel.remove(device)
            removalOwed[vni] = nil
        } catch {
            netlinkError("remove", error)
            removalOwed[vni] = device
            retryLater(vni, "devices not removed: \(error)")
        }
    }

    /// The hosts that still have endpoints on `vni` (as the replica shows them), as "hosts
    /// h2, h3" for an error message; nil when none has.
    func stillUsed(_ vni: VNI) -> String? {
        let hosts = Set(replica.endpoints.values.filter { $0.network == vni }.map(\.owner)).sorted()
        guard !hosts.isEmpty else { return nil }
        return (hosts.count == 1 ? "host " : "hosts ") + hosts.joined(separator: ", ")
    }

    /// The MTU of `vni`'s devices and veths: the network's own (`-o com.docker.network.driver.mtu`)
    /// when it has one, never more than the underlay carries now; else the overlay MTU from
    /// the underlay.
    func deviceMTU(for vni: VNI) -> UInt32 {
        guard let mtu = networkMTU[vni] else { return underlay.deviceMTU }
        return min(mtu, underlay.deviceMTU)
    }

    /// A Docker network this host's dockerd has, from `docker.json` at start: its devices are
    /// made with the configured ones, before the endpoints of it are published.
    func restoreNetwork(_ restored: DockerDriver.RestoredNetwork) {
        guard devices[restored.vni] == nil else { return }
        let network = NetworkConfiguration(name: restored.name, vni: restored.vni)
        networkMTU[restored.vni] = restored.mtu
        devices[restored.vni] = NetworkDevice(network: network, vtep: vtep, port: UInt16(configuration.vxlanPort),
                                              mtu: deviceMTU(for: restored.vni))
        networksByName[restored.name] = network
    }

    func device(_ vni: VNI) -> NetworkDevice? { devices[vni] }

    func definitions() -> [VNI: NetworkDefinition] { replica.definitions() }

    func isJoined() -> Bool { joined }

    func view() -> OverlayView {
        OverlayView(definitions: replica.definitions(), devices: devices, deviceMTU: underlay.deviceMTU, underlayMTU: underlay.underlayMTU)
    }
}
