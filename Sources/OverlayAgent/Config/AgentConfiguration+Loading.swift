#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Overlay

extension AgentConfiguration {
    /// The configuration from, in order of precedence, `flags`, `environment`
    /// (`GRAPEVINE_*` variables; repeated options comma-separated), the TOML file at `file`,
    /// and the defaults. Validated before it is returned.
    ///
    /// - Parameters:
    ///   - flags: option key (`data_dir`) → values, as given on the command line.
    ///   - defaultName: the name when no source gives one (the host name).
    /// - Throws: `ConfigurationError` for an unreadable or malformed file (with the parser's
    ///   line and column), an unknown key, a value of the wrong type or out of range.
    public static func load(file: String?, environment: [String: String], flags: [String: [String]],
                            defaultName: String) throws(ConfigurationError) -> AgentConfiguration {
        var config = AgentConfiguration(name: defaultName)
        if let file { try config.apply(fileAt: file) }
        for option in AgentOption.all {
            guard let text = environment[option.environmentVariable] else { continue }
            let values = option.repeats ? text.split(separator: ",").map(\.trimmed) : [text]
            try config.replace(option, with: values)
        }
        for option in AgentOption.all {
            guard let values = flags[option.key] else { continue }
            try config.replace(option, with: values)
        }
        try config.validate()
        return config
    }

    /// A later source replaces a repeated option's list rather than adding to it: `--join`
    /// on the command line means these seeds, not these as well as the file's.
    private mutating func replace(_ option: AgentOption, with values: [String]) throws(ConfigurationError) {
        var copy = self
        switch option.key {
        case "join": copy.join = []
        case "tag": copy.tags = [:]
        case "network": copy.networks = []
        case "handler": copy.handlers = []
        default: break
        }
        try copy.set(option.key, values)
        self = copy
    }

    mutating func apply(fileAt path: String) throws(ConfigurationError) {
        let text: String
        do throws(StoreError) {
            guard let t = try AtomicFile.readText(path) else { throw StoreError("cannot read \(path): No such file or directory") }
            text = t
        } catch {
            throw ConfigurationError("config", error.description)
        }
        let file: ConfigurationFile
        do throws(ConfigurationFile.Fault) {
            let document: TOMLDocument
            do {
                document = try TOMLDocument(parsing: text)
            } catch {
                throw ConfigurationFile.Fault("\(error)")
            }
            file = try ConfigurationFile(document.root)
        } catch {
            throw ConfigurationError("config", "\(path): \(error.message)")
        }
        try file.apply(to: &self)
    }
}

/// The TOML file's shape: the option keys of `AgentOption.all`, with `tags` a table of
/// strings, `network` an array of tables and `handler` an array of strings. A key the agent
/// does not know is an error, as is a value of another type.
private struct ConfigurationFile {
    struct Fault: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    struct Network {
        var name: String
        var vni: Int
        var bridge: String?
        var device: String?
    }

    var name: String?
    var bind: String?
    var advertise: String?
    var join: [String]?
    var key_file: String?
    var insecure: Bool?
    var label: String?
    var data_dir: String?
    var api_socket: String?
    var api_group: String?
    var api_address: String?
    var vtep: String?
    var vxlan_port: Int?
    var underlay_mtu: Int?
    var reconcile_interval: Int?
    var startup_grace: Int?
    var log_level: String?
    var tags: [String: String]?
    var network: [Network]?
    var handler: [String]?
    var handler_concurrency: Int?
    var handler_timeout: Int?
    var docker: Bool?
    var docker_plugin_socket: String?
    var docker_plugin_address: String?
    var docker_socket: String?
    var ipam_quarantine: Int?
    var dns_address: String?
    var dns_upstream: [String]?
    var docker_daemon_config: String?

    init(_ root: TOMLDocument.Table) throws(Fault) {
        var r = Reader(root, at: "")
        name = try r.string("name")
        bind = try r.string("bind")
        advertise = try r.string("advertise")
        join = try r.strings("join")
        key_file = try r.string("key_file")
        insecure = try r.boolean("insecure")
        label = try r.string("label")
        data_dir = try r.string("data_dir")
        api_socket = try r.string("api_socket")
        api_group = try r.string("api_group")
        api_address = try r.string("api_address")
        vtep = try r.string("vtep")
        vxlan_port = try r.integer("vxlan_port")
        underlay_mtu = try r.integer("underlay_mtu")
        reconcile_interval = try r.integer("reconcile_interval")
        startup_grace = try r.integer("startup_grace")
        log_level = try r.string("log_level")
        if let t = try r.table("tags") {
            var tags: [String: String] = [:]
            var tr = Reader(t, at: "tags.")
            for key in t.keys { tags[key] = try tr.string(key) }
            self.tags = tags
        }
        if let tables = try r.tables("network") {
            var networks: [Network] = []
            for (n, t) in tables.enumerated() {
                var nr = Reader(t, at: "network[\(n)].")
                let (name, vni) = (try nr.string("name"), try nr.integer("vni"))
                networks.append(Network(
                    name: try nr.required(name, "name"), vni: try nr.required(vni, "vni"),
                    bridge: try nr.string("bridge"), device: try nr.string("device")))
                try nr.finish()
            }
            network = networks
        }
        handler = try r.strings("handler")
        handler_concurrency = try r.integer("handler_concurrency")
        handler_timeout = try r.integer("handler_timeout")
        docker = try r.boolean("docker")
        docker_plugin_socket = try r.string("docker_plugin_socket")
        docker_plugin_address = try r.string("docker_plugin_address")
        docker_socket = try r.string("docker_socket")
        ipam_quarantine = try r.integer("ipam_quarantine")
        try r.finish()
    }

    /// Takes typed values out of one table, and says which keys it did not take.
    private struct Reader {
        let table: TOMLDocument.Table
        let prefix: String
        var taken: Set<String> = []

        init(_ table: TOMLDocument.Table, at prefix: String) {
            self.table = table
            self.prefix = prefix
        }

        private mutating func take<T>(_ key: String, _ expected: String, _ cast: (TOMLDocument.Value) -> T?) throws(Fault) -> T? {
            taken.insert(key)
            guard let v = table[key] else { return nil }
            guard let t = cast(v) else { throw Fault("\(prefix)\(key): expected \(expected), got \(v.typeName)") }
            return t
        }

        mutating func string(_ key: String) throws(Fault) -> String? {
            try take(key, "a string") { if case .string(let s) = $0 { s } else { nil } }
        }

        mutating func integer(_ key: String) throws(Fault) -> Int? {
            try take(key, "an integer") { if case .integer(let n) = $0 { n } else { nil } }
        }

        mutating func boolean(_ key: String) throws(Fault) -> Bool? {
            try take(key, "true or false") { if case .boolean(let b) = $0 { b } else { nil } }
        }

        mutating func table(_ key: String) throws(Fault) -> TOMLDocument.Table? {
            try take(key, "a table") { if case .table(let t) = $0 { t } else { nil } }
        }

        mutating func strings(_ key: String) throws(Fault) -> [String]? {
            try take(key, "an array of strings") { v -> [String]? in
                guard case .array(let items) = v else { return nil }
                var out: [String] = []
                for case .string(let s) in items { out.append(s) }
                return out.count == items.count ? out : nil
            }
        }

        mutating func tables(_ key: String) throws(Fault) -> [TOMLDocument.Table]? {
            try take(key, "an array of tables ([[\(key)]])") { v -> [TOMLDocument.Table]? in
                guard case .array(let items) = v else { return nil }
                var out: [TOMLDocument.Table] = []
                for case .table(let t) in items { out.append(t) }
                return out.count == items.count ? out : nil
            }
        }

        func required<T>(_ value: T?, _ key: String) throws(Fault) -> T {
            guard let value else { throw Fault("\(prefix.isEmpty ? "" : String(prefix.dropLast()) + ": ")missing \(key)") }
            return value
        }

        func finish() throws(Fault) {
            let unknown = table.keys.filter { !taken.contains($0) }
            guard unknown.isEmpty else {
                throw Fault("unknown option \(unknown.map { prefix + $0 }.joined(separator: ", "))")
            }
        }
    }

    func apply(to config: inout AgentConfiguration) throws(ConfigurationError) {
        if let name { config.name = name }
        if let bind { config.bind = bind }
        if let advertise { config.advertise = advertise }
        if let join { config.join = join }
        if let key_file { config.keyFile = key_file }
        if let insecure { config.insecure = insecure }
        if let label { config.label = label }
        if let data_dir { config.dataDir = data_dir }
        if let api_socket { config.apiSocket = api_socket }
        if let api_group { config.apiGroup = api_group }
        if let api_address { config.apiAddress = api_address }
        if let vtep { config.vtep = vtep }
        if let vxlan_port { config.vxlanPort = vxlan_port }
        if let underlay_mtu { config.underlayMTU = underlay_mtu }
        if let reconcile_interval { config.reconcileInterval = reconcile_interval }
        if let startup_grace { config.startupGrace = startup_grace }
        if let log_level { try config.set("log_level", [log_level]) }
        if let tags { config.tags = tags }
        if let network {
            config.networks = []
            for (i, n) in network.enumerated() {
                guard let raw = UInt32(exactly: n.vni), let vni = VNI(raw) else {
                    throw ConfigurationError("network[\(i)].vni", "\(n.vni) is not a VNI (1 to 16777215)")
                }
                config.networks.append(NetworkConfiguration(name: n.name, vni: vni, bridge: n.bridge, device: n.device))
            }
        }
        if let handler { config.handlers = handler }
        if let handler_concurrency { config.handlerConcurrency = handler_concurrency }
        if let handler_timeout { config.handlerTimeout = handler_timeout }
        if let docker { config.docker = docker }
        if let docker_plugin_socket { config.dockerPluginSocket = docker_plugin_socket }
        if let docker_plugin_address { config.dockerPluginAddress = docker_plugin_address }
        if let docker_socket { config.dockerSocket = docker_socket }
        if let ipam_quarantine { config.ipamQuarantine = ipam_quarantine }
        if let dns_address { config.dnsAddress = dns_address.isEmpty ? nil : dns_address }
        if let dns_upstream { config.dnsUpstream = dns_upstream }
        if let docker_daemon_config { config.dockerDaemonConfig = docker_daemon_config }
    }
}
