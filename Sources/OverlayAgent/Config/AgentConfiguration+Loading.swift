#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Overlay
import TOMLKit

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
            let values = option.repeats ? text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } : [text]
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
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError("config", "cannot read \(path): \(error.localizedDescription)")
        }
        let file: ConfigurationFile
        do {
            file = try TOMLDecoder(strictDecoding: true).decode(ConfigurationFile.self, from: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError("config", "\(path): \(error.description) at line \(error.source.begin.line), column \(error.source.begin.column)")
        } catch let error as UnexpectedKeysError {
            throw ConfigurationError("config", "\(path): unknown option \(error.keys.keys.sorted().joined(separator: ", "))")
        } catch let error as DecodingError {
            throw ConfigurationError("config", "\(path): \(error.summary)")
        } catch {
            throw ConfigurationError("config", "\(path): \(error)")
        }
        try file.apply(to: &self)
    }
}

extension DecodingError {
    /// `key.path: what was wrong`, without Swift's type names where a person reads it.
    var summary: String {
        let context: Context
        switch self {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c), .dataCorrupted(let c): context = c
        @unknown default: return "\(self)"
        }
        let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        if case .keyNotFound(let key, _) = self { return "\(path.isEmpty ? "" : path + ": ")missing \(key.stringValue)" }
        return "\(path): \(context.debugDescription)"
    }
}

/// The TOML file's shape: the option keys of `AgentOption.all`, with `tags` a table,
/// `network` an array of tables and `handler` an array of strings.
private struct ConfigurationFile: Decodable {
    struct Network: Decodable {
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
    }
}
