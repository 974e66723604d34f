import GrapevineTestSupport
import Addresses
import Foundation
import Netlink
import Overlay
@testable import OverlayAgent
import Synchronization
import Testing

/// The cases `OwnerFaultTests` found, each with its one fault armed by name and the owners'
/// background repairs off, so that the test sees what the fault left and then runs the repair
/// (a sync pass of the Docker driver, a reconcile pass of the overlay) itself.
@Suite(KernelTestGate.trait) struct OwnerFaultCaseTests {
    typealias T = OwnerFaultTests

    static func withWorld(_ body: @escaping @Sendable (OwnerWorld, Ledger) async throws -> Void) async throws {
        try await withNamespaces(["case"]) { names in
            try await withDataDirectory { directory in
                let world = try OwnerWorld(namespace: names[0], directory: directory, seed: 1)
                try await world.running(background: false) { try await body(world, Ledger()) }
            }
        }
    }

    /// Network `slot`, made and named as dockerd would (the naming the sync loop's task does).
    static func network(_ world: OwnerWorld, _ ledger: Ledger, slot: Int) async throws -> String {
        await T.createNetwork(world, ledger, slot: slot, attempts: 1, tag: "c")
        let id = try #require(ledger.network(slot), "network \(slot) made")
        await world.docker.nameDockerNetwork(id: id, vni: T.vni(slot))
        return id
    }

    /// A container started as dockerd starts it; its address.
    static func container(_ world: OwnerWorld, network: String, slot: Int, endpoint: String, address: String? = nil) async throws -> String {
        let leased = try await world.docker.requestAddress(RequestAddressRequest(PoolID: T.subnet(slot), Address: address, Options: nil)).Address
        _ = try await world.docker.createEndpoint(CreateEndpointRequest(
            NetworkID: network, EndpointID: endpoint, Interface: EndpointInterface(Address: leased, AddressIPv6: nil, MacAddress: nil)))
        _ = try await world.docker.join(DockerEndpointRequest(NetworkID: network, EndpointID: endpoint))
        return String(leased.prefix { $0 != "/" })
    }

    /// A container on network slot 0, then removed by dockerd (DeleteEndpoint, then
    /// ReleaseAddress) while its row's withdrawal fails: its address and its row's key.
    static func removedWithItsRowLeft(_ world: OwnerWorld, network: String, endpoint: String) async throws -> (String, EndpointKey) {
        let ip = try await container(world, network: network, slot: 0, endpoint: endpoint)
        world.faults.failNext("delete endpoint")
        await world.docker.deleteEndpoint(DockerEndpointRequest(NetworkID: network, EndpointID: endpoint))
        await world.docker.releaseAddress(ReleaseAddressRequest(PoolID: T.subnet(0), Address: ip))
        return (ip, try key(0, ip))
    }

    static func links(_ world: OwnerWorld) async throws -> Set<String> {
        Set(try await KernelWorker(namespace: .named(world.namespace)).run { links, _ throws(NetlinkError) in try links.links() }.map(\.name))
    }

    static func key(_ slot: Int, _ ip: String) throws -> EndpointKey {
        guard case .v4(let raw)? = IPAddress(ip) else { throw TimedOut(what: "an IPv4 address") }
        return EndpointKey(network: T.vni(slot).value, mac: DockerDriver.mac(for: raw).description)
    }

    /// DeleteEndpoint has no error to give: when the row cannot be withdrawn, then the veth
    /// cannot be deleted, the endpoint stays recorded and each sync pass finishes what is
    /// left. Before, the row stayed published and the veth stayed for good. A row once
    /// withdrawn is not withdrawn again: the address, and so the MAC, may be a new container's.
    @Test func aRemovedEndpointWhoseWithdrawalFailsIsFinishedByTheSyncPass() async throws {
        try await Self.withWorld { world, ledger in
            let network = try await Self.network(world, ledger, slot: 0)
            let first = "11111111111aaaa"
            let ip = try await Self.container(world, network: network, slot: 0, endpoint: first)
            let key = try Self.key(0, ip)
            world.faults.failNext("delete endpoint")
            world.faults.failNext("delete port")
            await world.docker.deleteEndpoint(DockerEndpointRequest(NetworkID: network, EndpointID: first))
            await world.docker.releaseAddress(ReleaseAddressRequest(PoolID: T.subnet(0), Address: ip))
            #expect(world.registry.endpoints[key] != nil, "the row could not be withdrawn yet")
            let recorded = try world.files.docker.load().endpoints
            #expect(recorded[first] != nil, "so the endpoint stays recorded")

            await world.docker.syncPass()
            #expect(world.registry.endpoints[key] == nil, "the sync pass withdrew the row")
            let before = try await Self.links(world)
            #expect(before.contains("gv11111111111"), "the veth could not be deleted yet")
            #expect(world.faults.pending.isEmpty, "both faults were met")

            // The address, and with it the MAC, goes to a new container before the next pass.
            let second = "22222222222bbbb"
            let again = try await Self.container(world, network: network, slot: 0, endpoint: second, address: ip)
            #expect(again == ip)
            await world.docker.syncPass()
            let links = try await Self.links(world)
            #expect(!links.contains("gv11111111111") && links.contains("gv22222222222"), "the old veth is gone, the new one stays")
            #expect(world.registry.endpoints[key] != nil, "the new container's row is not withdrawn for the old one")
            let left = try world.files.docker.load().endpoints
            #expect(Set(left.keys) == [second])
        }
    }

    /// The address of a removed container whose row still stands goes to a new container,
    /// whose CreateEndpoint is refused (its MAC, from the address, is still registered) and
    /// whose own undo fails to delete its veth: the next sync pass still withdraws the old row
    /// (the refused container never held it) and deletes both veths.
    @Test func aRefusedContainerOnTheSameAddressDoesNotKeepTheOldRow() async throws {
        try await Self.withWorld { world, ledger in
            let network = try await Self.network(world, ledger, slot: 0)
            let first = "55555555555eeee"
            let (ip, key) = try await Self.removedWithItsRowLeft(world, network: network, endpoint: first)
            world.faults.failNext("delete port")
            await #expect(throws: PluginError.self) {
                _ = try await Self.container(world, network: network, slot: 0, endpoint: "66666666666ffff", address: ip)
            }
            #expect(world.faults.pending.isEmpty, "both faults were met")
            #expect(world.registry.endpoints[key] != nil, "the old row still stands")
            await world.docker.syncPass()
            #expect(world.registry.endpoints[key] == nil, "the old row is withdrawn")
            let links = try await Self.links(world)
            #expect(!links.contains("gv55555555555") && !links.contains("gv66666666666"), "both veths are gone")
            let recorded = try world.files.docker.load().endpoints
            #expect(recorded.isEmpty, "and both records")
        }
    }

    /// The finding `OwnerFaultTests` made once in CI (seed 1): a row no endpoint owns. A
    /// removed container's row withdrawal failed, so the sync pass withdrew it; while that
    /// pass was still deleting the old veth, a new container on the same address (the same
    /// MAC) registered its row and was then refused (its record not written). Its undo took
    /// the row for the old container's, still "withdrawing", and kept it: nobody owned it and
    /// no pass withdrew it. A create now runs one at a time with the driver's other changes.
    @Test func aRefusedCreateDuringTheOldContainersWithdrawalKeepsNoRow() async throws {
        try await Self.withWorld { world, ledger in
            let network = try await Self.network(world, ledger, slot: 0)
            let first = "77777777777aaaa"
            let (ip, key) = try await Self.removedWithItsRowLeft(world, network: network, endpoint: first)
            #expect(world.registry.endpoints[key] != nil, "the row could not be withdrawn yet")

            // The sync pass withdraws the row and stops at the old veth's deletion.
            world.faults.holdNext("delete port")
            let pass = Task { await world.docker.syncPass() }
            await world.faults.reached("delete port")
            #expect(world.registry.endpoints[key] == nil, "the pass withdrew the old row")

            // The new container's record cannot be written.
            world.faults.failNext("docker.json holding 88888888888bbbb")
            let done = Mutex(false)
            let create = Task {
                defer { done.withLock { $0 = true } }
                _ = try await Self.container(world, network: network, slot: 0, endpoint: "88888888888bbbb", address: ip)
            }
            // It either ran to its end while the pass was held (before the fix), or waits for it.
            let driver = world.docker
            try await eventually("the create ended or waits for the pass") {
                done.withLock { $0 } || driver.waitingSerially > 0
            }
            world.faults.release("delete port")
            await pass.value
            await #expect(throws: PluginError.self) { try await create.value }

            await world.docker.syncPass()
            #expect(world.registry.endpoints[key] == nil, "no row stays that no endpoint owns")
            let links = try await Self.links(world)
            #expect(!links.contains("gv77777777777") && !links.contains("gv88888888888"), "both veths are gone")
            #expect(try world.files.docker.load().endpoints.isEmpty, "and both records")
        }
    }

    /// A CreateEndpoint whose record cannot be written undoes its row and veth; when deleting
    /// the veth fails too, the next sync pass deletes it (before, it stayed for good).
    @Test func aFailedCreateEndpointLeavesNoVeth() async throws {
        try await Self.withWorld { world, ledger in
            let network = try await Self.network(world, ledger, slot: 0)
            world.faults.failNext("docker.json")
            world.faults.failNext("delete port")
            await #expect(throws: PluginError.self) {
                _ = try await Self.container(world, network: network, slot: 0, endpoint: "33333333333cccc")
            }
            #expect(world.registry.endpoints.keys.allSatisfy { $0.network != T.vni(0).value }, "no row of the refused endpoint")
            await world.docker.syncPass()
            let links = try await Self.links(world)
            #expect(!links.contains("gv33333333333"), "its veth is gone")
            let recorded = try world.files.docker.load().endpoints
            #expect(recorded.isEmpty, "and its record")
        }
    }

    /// A definition whose publish failed went out only at the agent's next start: the network
    /// reached no other host. Now each sync pass publishes it again until it is out.
    @Test func aDefinitionWhosePublishFailedGoesOutAtTheNextSyncPass() async throws {
        try await Self.withWorld { world, ledger in
            world.faults.failNext("write network")
            _ = try await Self.network(world, ledger, slot: 1)
            #expect(world.faults.pending.isEmpty, "the publish failed")
            let before = try await world.publishedRows()
            #expect(before.allSatisfy { if case .network = $0 { false } else { true } }, "no definition published")
            await world.docker.syncPass()
            let published = try await world.publishedRows().compactMap { row -> NetworkDefinition? in
                if case .network(let d) = row { d } else { nil }
            }
            #expect(published.map(\.name) == ["n1"] && published.map(\.vni) == [T.vni(1)])
        }
    }

    /// Leaving a network while the host row cannot be published and the devices cannot be
    /// deleted: before, the host row kept naming the network (other hosts flooded to this one)
    /// and the devices stayed. The next reconcile pass publishes the row and deletes them.
    @Test func aNetworkLeftWhileItsEdgesFailIsLeftByTheNextReconcile() async throws {
        try await Self.withWorld { world, ledger in
            let network = try await Self.network(world, ledger, slot: 4)
            world.faults.failNext("write host")
            world.faults.failNext("remove")
            await world.docker.deleteNetwork(NetworkRequest(NetworkID: network))
            #expect(world.faults.pending.isEmpty, "both faults were met")
            let before = try await Self.links(world)
            #expect(before.contains("gvx5004"), "the devices could not be deleted yet")
            await world.overlay.reconcileEverything()
            let after = try await Self.links(world)
            #expect(!after.contains { $0 == "gvx5004" || $0 == "gvbr5004" }, "the devices are gone")
            let hostNetworks = try await world.publishedRows().compactMap { row -> Set<VNI>? in if case .host(_, let n) = row { n } else { nil } }
            #expect(hostNetworks == [[T.staticVNI]], "the host row no longer names the network")
        }
    }

    /// A create whose devices are made but whose ensure then fails (a later netlink request
    /// refused) leaves no device; and one whose host row cannot be published, while removing
    /// its devices fails too, leaves none after the next reconcile. A retry succeeds.
    @Test func aCreateWhoseDevicesFailHalfwayLeavesNoDevice() async throws {
        try await Self.withWorld { world, ledger in
            world.faults.failNext("ensure", late: true)
            await T.createNetwork(world, ledger, slot: 2, attempts: 1, tag: "late")
            #expect(ledger.network(2) == nil, "the create was refused")
            let afterLate = try await Self.links(world)
            #expect(!afterLate.contains { $0.hasSuffix("5002") }, "no device of it")

            world.faults.failNext("write host")
            world.faults.failNext("remove")
            await T.createNetwork(world, ledger, slot: 2, attempts: 1, tag: "host")
            #expect(ledger.network(2) == nil, "the create was refused")
            #expect(world.faults.pending.isEmpty, "every fault was met")
            await world.overlay.reconcileEverything()
            let afterHost = try await Self.links(world)
            #expect(!afterHost.contains { $0.hasSuffix("5002") }, "no device of it after the reconcile")
            let recorded = try world.files.docker.load().networks
            #expect(recorded.isEmpty, "nor a record")

            await T.createNetwork(world, ledger, slot: 2, attempts: 1, tag: "retry")
            #expect(ledger.network(2) != nil, "a retry is made")
        }
    }

    /// The creator's allocator takes the whole pool with its first write of `ipam.json`; when
    /// that write failed, the allocator stayed, owning nothing, and every address of the
    /// network was refused `exhausted` for good. Now the take waits for the next request. And
    /// a failed write no longer refuses addresses until some other change rewrites the file:
    /// the next request writes it again.
    @Test func anAllocatorWriteThatFailsWedgesNothing() async throws {
        try await Self.withWorld { world, ledger in
            // The allocator's first write (a new incarnation) is done: the next is the take.
            try await eventually("ipam.json is written") { try world.files.ipam.load() != nil }
            world.faults.failNext("ipam.json")
            let network = try await Self.network(world, ledger, slot: 3)
            do throws(PluginError) {
                _ = try await world.docker.requestAddress(RequestAddressRequest(PoolID: T.subnet(3), Address: nil, Options: nil))
            } catch {
                // The request may come before the take is tried again, never after it failed for good.
                #expect(error.code == "no_allocator", "\(error.message)")
            }
            #expect(world.faults.pending.isEmpty, "the take's write failed")
            let ip = try await Self.container(world, network: network, slot: 3, endpoint: "44444444444dddd")
            #expect(ip.hasPrefix("10.1.3."))

            world.faults.failNext("ipam.json")
            await #expect(throws: PluginError.self) {
                _ = try await world.docker.requestAddress(RequestAddressRequest(PoolID: T.subnet(3), Address: nil, Options: nil))
            }
            let next = try await world.docker.requestAddress(RequestAddressRequest(PoolID: T.subnet(3), Address: nil, Options: nil)).Address
            #expect(!next.hasPrefix(ip + "/"), "a new address, once the file can be written")
        }
    }
}
