import Logging
import Overlay

/// The name service's side of the overlay: its table follows the replica, and the bridges
/// carry the addresses it answers on (NameBridges.swift).
extension OverlayController {
    /// Checks dockerd's side of the setup, then serves until cancelled. A name service that
    /// cannot bind is an error in the log and leaves the rest of the agent running: the
    /// overlay works by address without it.
    func serveNames(_ server: NameServer) async {
        if configuration.docker, let address = configuration.dnsAddress {
            let path = configuration.dockerDaemonConfig
            let check: NameSetup.DaemonCheck
            do { check = NameSetup.checkDaemonConfig(try AtomicFile.read(path), address: address) } catch {
                check = .unreadable(error.description)
            }
            switch check {
            case .ok:
                break
            case .noFile:
                logger.warning("dockerd is not set up to ask the agent for names: \(NameSetup.remedy(address: address, path: path))",
                               metadata: ["dns.daemon_config": "\(path)", "dns.problem": "no file"])
            case .unreadable(let why):
                logger.warning("dockerd's configuration cannot be read; names need \(NameSetup.remedy(address: address, path: path))",
                               metadata: ["dns.daemon_config": "\(path)", "dns.problem": "\(why)"])
            case .missing(let have):
                logger.warning("dockerd is not set up to ask the agent for names: \(NameSetup.remedy(address: address, path: path))",
                               metadata: ["dns.daemon_config": "\(path)", "dns.have": "\(have.joined(separator: ","))"])
            }
        }
        if server.settings.upstreams.isEmpty {
            logger.warning("no upstream resolver (none configured, none in /etc/resolv.conf): names outside the overlay get SERVFAIL")
        }
        await rebuildNames()
        // Children of this call, so they end with it (and it with the agent's run).
        await withDiscardingTaskGroup { group in
            // Bridges made anew by a repair lose their addresses: put back on a timer.
            group.addTask {
                while (try? await Task.sleep(for: .seconds(10))) != nil { await self.addressBridgesForNames(force: true) }
            }
            group.addTask {
                for await _ in server.rebuilds { await self.rebuildNames() }
            }
            do { try await server.run() } catch {
                logger.error("name service cannot listen; containers resolve only their own host's names", metadata: [
                    "dns.address": "\(server.settings.listen)", "dns.error": "\(error)",
                ])
            }
            server.rebuildWanted.finish()
            group.cancelAll()
        }
    }

    /// The replica changed: the name table follows, rebuilt whole (`NameTable`); changes that
    /// arrive while a rebuild is pending share it.
    func namesChanged() {
        names?.rebuildWanted.yield()
    }

    func rebuildNames() async {
        names?.update(NameTable(replica: replica))
        await addressBridgesForNames()
    }
}
