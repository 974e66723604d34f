import Foundation
@testable import OverlayAgent
import Overlay
import Testing

struct AgentConfigurationTests {
    static func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gv-conf-\(UUID().uuidString.prefix(8)).toml").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static let example = """
        # A host of the overlay.
        name = "host-a"
        bind = "10.0.0.1:7946"
        join = ["10.0.0.2", "10.0.0.3:7946"]
        key_file = "/etc/grapevine/key"
        underlay_mtu = 9000
        handler = ["member-join=/usr/local/bin/on-join"]

        [tags]
        role = "web"

        [[network]]
        name = "blue"
        vni = 100

        [[network]]
        name = "red"
        vni = 200
        bridge = "br-red"
        """

    @Test func aFileGivesEveryOption() throws {
        let path = try Self.file(Self.example)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = try AgentConfiguration.load(file: path, environment: [:], flags: [:], defaultName: "fallback")
        #expect(c.name == "host-a")
        #expect(c.join == ["10.0.0.2", "10.0.0.3:7946"])
        #expect(c.keyFile == "/etc/grapevine/key")
        #expect(c.tags == ["role": "web"])
        #expect(c.networks.map(\.name) == ["blue", "red"])
        #expect(c.networks[0].bridge == "gvbr100" && c.networks[0].device == "gvx100")
        #expect(c.networks[1].bridge == "br-red")
        #expect(try c.resolvedVTEP().description == "10.0.0.1")
        #expect(c.deviceMTU(vtep: try c.resolvedVTEP()) == 8950)
        #expect(c.handlers == ["member-join=/usr/local/bin/on-join"])
    }

    /// Without `underlay_mtu` the devices follow the VTEP device's MTU; with it, it wins.
    @Test func theUnderlayMTUIsOptionalAndWinsWhenGiven() throws {
        var c = AgentConfiguration(name: "a")
        c.bind = "10.0.0.1:7946"
        c.insecure = true
        try c.validate()
        #expect(c.underlayMTU == nil)
        let vtep = try c.resolvedVTEP()
        #expect(c.deviceMTU(vtep: vtep) == 1450)
        #expect(c.deviceMTU(vtep: vtep, interfaceMTU: 1400) == 1350)
        #expect(c.deviceMTU(vtep: vtep, interfaceMTU: 9000) == 8950)
        c.underlayMTU = 1300
        #expect(c.deviceMTU(vtep: vtep, interfaceMTU: 9000) == 1250)
        c.underlayMTU = 100
        #expect(throws: ConfigurationError.self) { try c.validate() }
    }

    @Test func environmentOverridesTheFileAndFlagsOverrideBoth() throws {
        let path = try Self.file(Self.example)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = try AgentConfiguration.load(
            file: path,
            environment: ["GRAPEVINE_NAME": "from-env", "GRAPEVINE_JOIN": "10.0.0.9, 10.0.0.8", "GRAPEVINE_UNDERLAY_MTU": "1500"],
            flags: ["name": ["from-flag"], "network": ["green:300"]], defaultName: "fallback")
        #expect(c.name == "from-flag")
        #expect(c.join == ["10.0.0.9", "10.0.0.8"])
        #expect(c.underlayMTU == 1500)
        // A repeated option from a later source replaces the earlier list.
        #expect(c.networks.map(\.name) == ["green"])
        #expect(c.networks[0].vni == VNI(300))
    }

    @Test func everyOptionIsAFlagAndAnEnvironmentVariable() throws {
        let keys = Set(AgentOption.all.map(\.key))
        #expect(keys.count == AgentOption.all.count)
        for option in AgentOption.all {
            #expect(option.environmentVariable.hasPrefix("GRAPEVINE_"))
            #expect(option.flag == "--" + option.key.replacingOccurrences(of: "_", with: "-"))
            // Each is understood by the one parser flags and variables share.
            var c = AgentConfiguration(name: "n")
            let sample: String = switch option.key {
            case "insecure", "docker": "true"
            case "vxlan_port", "underlay_mtu", "reconcile_interval", "startup_grace", "handler_concurrency", "handler_timeout",
                 "ipam_quarantine": "10"
            case "log_level": "debug"
            case "tag": "k=v"
            case "network": "n:1"
            default: "x"
            }
            try c.set(option.key, [sample])
        }
    }

    @Test(arguments: [
        ("name = \"a\"\nbind = [1, 2\n", "line 2"),
        ("name = \"a\"\nbindd = \"1.2.3.4\"\ninsecure = true\n", "unknown option bindd"),
        ("name = \"a\"\nvxlan_port = \"x\"\ninsecure = true\n", "vxlan_port"),
        ("name = \"a\"\nbind = \"10.0.0.1\"\ninsecure = true\nvxlan_port = 70000\n", "vxlan_port"),
        ("name = \"a\"\nbind = \"10.0.0.1\"\n", "no cluster key"),
        ("name = \"a\"\nbind = \"10.0.0.1\"\ninsecure = true\nkey_file = \"k\"\n", "choose one"),
        ("name = \"a\"\nbind = \"0.0.0.0\"\ninsecure = true\n", "vtep"),
        ("name = \"a\"\nbind = \"10.0.0.1\"\ninsecure = true\napi_address = \"10.0.0.1:80\"\n", "loopback"),
        ("name = \"a\"\nbind = \"10.0.0.1\"\ninsecure = true\n[[network]]\nname = \"b\"\nvni = 1\n[[network]]\nname = \"c\"\nvni = 1\n", "VNI 1"),
        ("name = \"a\"\nbind = \"10.0.0.1\"\ninsecure = true\n[[network]]\nname = \"b\"\nvni = 1\nbridge = \"a-name-far-too-long\"\n", "interface name"),
        ("name = \"a\"\nbind = \"10.0.0.1\"\ninsecure = true\n[[network]]\nname = \"b\"\nvni = 0\n", "reserved"),
        ("name = \"a\"\nbind = \"10.0.0.1\"\ninsecure = true\n[[network]]\nname = \"b\"\nvni = -5\n", "not a VNI"),
        ("name = \"a\"\nbind = \"10.0.0.1\"\ninsecure = true\nlog_level = \"loud\"\n", "unknown level"),
        ("name = \"a\"\nbind = \"10.0.0.1\"\ninsecure = true\ndocker = true\ndocker_plugin_address = \"10.0.0.1:80\"\n", "docker_plugin_address"),
        ("name = \"a\"\nbind = \"10.0.0.1\"\ninsecure = true\ndocker = true\ndocker_plugin_socket = \"\"\n", "needs a socket"),
        ("name = \"a\"\nbind = \"10.0.0.1\"\ninsecure = true\nipam_quarantine = -1\n", "ipam_quarantine"),
    ])
    func badFilesAreRefusedWithTheOptionNamed(text: String, mentions: String) throws {
        let path = try Self.file(text)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            try AgentConfiguration.load(file: path, environment: [:], flags: [:], defaultName: "n")
        } throws: { error in
            "\(error)".contains(mentions)
        }
    }

    @Test(arguments: [
        (["GRAPEVINE_VXLAN_PORT": "many"], "vxlan_port"),
        (["GRAPEVINE_NETWORK": "blue"], "NAME:VNI"),
        (["GRAPEVINE_TAG": "novalue"], "key=value"),
        (["GRAPEVINE_INSECURE": "perhaps"], "true or false"),
    ])
    func badEnvironmentIsRefused(environment: [String: String], mentions: String) {
        #expect {
            try AgentConfiguration.load(file: nil, environment: environment.merging(["GRAPEVINE_BIND": "10.0.0.1"]) { a, _ in a },
                                        flags: [:], defaultName: "n")
        } throws: { error in
            "\(error)".contains(mentions)
        }
    }
}

struct EndpointStoreTests {
    @Test func savedRegistriesLoadBackAndReplaceWholly() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gv-store-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = EndpointStore(directory: directory.path, persistence: PersistenceQueue())
        #expect(try store.load().endpoints.isEmpty)
        let one = StoredEndpoint(network: "blue", vni: 100, mac: "02:00:00:00:00:01", ip: "10.0.0.1", ip6: nil, name: "c1", claim: 7)
        try await store.save(nil, whole: { .init(format: EndpointStore.format, clock: 7, endpoints: [one]) })
        #expect(try store.load().endpoints == [one])
        #expect(try store.load().clock == 7)
        try await store.save(nil, whole: { .init(format: EndpointStore.format, clock: 9, endpoints: []) })
        #expect(try store.load().endpoints.isEmpty)
        // No temporary file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["endpoints.json", "endpoints.log"])
    }

    @Test func aDamagedRegistryIsAnErrorNotAnEmptyRegistry() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gv-store-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("{\"format\": 1, \"clock\": 3, \"endpoints\": [".utf8).write(to: directory.appendingPathComponent("endpoints.json"))
        #expect(throws: StoreError.self) { try EndpointStore(directory: directory.path, persistence: PersistenceQueue()).load() }
    }

    /// Changes go to the log after the first write; a reload is the file plus the log in
    /// order; a line a crash cut short is ignored; a complete line that does not parse is an
    /// error; the log is folded into the file once larger than it, and after a failed write.
    @Test func changesAreLoggedAndFoldedIntoTheFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gv-store-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = EndpointStore(directory: directory.path, persistence: PersistenceQueue())
        @Sendable func endpoint(_ i: Int, name: String? = nil) -> StoredEndpoint {
            StoredEndpoint(network: "blue", vni: 100, mac: String(format: "02:00:00:00:%02x:%02x", i / 256, i % 256),
                           ip: nil, ip6: nil, name: name, claim: UInt64(i))
        }
        let logPath = directory.appendingPathComponent("endpoints.log").path
        let filePath = directory.appendingPathComponent("endpoints.json").path
        func size(_ path: String) throws -> Int { (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1 }
        // The first write after start is whole, whatever it is asked.
        try await store.save([.put(endpoint(1), clock: 1)], whole: { .init(format: 1, clock: 1, endpoints: [endpoint(1)]) })
        #expect(try size(logPath) == 0)
        try await store.save([.put(endpoint(2), clock: 2)], whole: { Issue.record("folded too early"); return .init(format: 1, clock: 0, endpoints: []) })
        try await store.save([.put(endpoint(2, name: "two"), clock: 3), .removed(endpoint(1).key, clock: 3)],
                             whole: { Issue.record("folded too early"); return .init(format: 1, clock: 0, endpoints: []) })
        #expect(try size(logPath) > 0)
        var loaded = try store.load()
        #expect(loaded.endpoints == [endpoint(2, name: "two")] && loaded.clock == 3)
        // A line cut short by a crash: ignored.
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try log.seekToEnd()
        try log.write(contentsOf: Data(#"{"clock":4,"put":{"mac""#.utf8))
        try log.close()
        loaded = try EndpointStore(directory: directory.path, persistence: PersistenceQueue()).load()
        #expect(loaded.endpoints == [endpoint(2, name: "two")] && loaded.clock == 3)
        // A new store folds first, so the torn line is gone before anything is appended.
        let restarted = EndpointStore(directory: directory.path, persistence: PersistenceQueue())
        try await restarted.save([.put(endpoint(3), clock: 5)], whole: { .init(format: 1, clock: 5, endpoints: [endpoint(2, name: "two"), endpoint(3)]) })
        #expect(try size(logPath) == 0)
        // Many changes: folded once the log outgrows the file (256 KiB at least).
        var folds = 0
        var all = [endpoint(2, name: "two"), endpoint(3)]
        for i in 10..<3_000 {
            all.append(endpoint(i))
            let snapshot = all
            try await restarted.save([.put(endpoint(i), clock: UInt64(i))], whole: { .init(format: 1, clock: UInt64(i), endpoints: snapshot) })
            if try size(logPath) == 0 { folds += 1 }
        }
        #expect(folds >= 1, "the log was never folded")
        #expect(try size(logPath) < EndpointStore.minimumFoldBytes + 4_096)
        loaded = try EndpointStore(directory: directory.path, persistence: PersistenceQueue()).load()
        #expect(loaded.endpoints.count == all.count && Set(loaded.endpoints) == Set(all) && loaded.clock == 2_999)
        #expect(try size(filePath) > 0)
        // A complete line that does not parse: the agent refuses to start.
        try Data("not json\n".utf8).write(to: URL(fileURLWithPath: logPath))
        #expect(throws: StoreError.self) { try EndpointStore(directory: directory.path, persistence: PersistenceQueue()).load() }
    }
}
