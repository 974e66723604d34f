public import Addresses
import Gossip
import Overlay

extension AgentConfiguration {
    /// VXLAN's outer headers (RFC 7348 §5): Ethernet 14 + IP + UDP 8 + VXLAN 8, with IP 20
    /// (IPv4) or 40 (IPv6) bytes.
    public static func encapsulationOverhead(ipv6: Bool) -> Int { ipv6 ? 70 : 50 }

    /// Checks every option's range and the options against each other.
    /// - Throws: `ConfigurationError` naming the first option that is wrong.
    public func validate() throws(ConfigurationError) {
        guard Limits.isValidName(name) else { throw ConfigurationError("name", "'\(name)' must be 1 to 128 bytes without control characters") }
        guard Address(parsing: bind, defaultPort: 7946) != nil else { throw ConfigurationError("bind", "'\(bind)' is not an IP address with an optional port") }
        if let advertise {
            guard let a = Address(parsing: advertise, defaultPort: 7946), !a.isUnspecified else {
                throw ConfigurationError("advertise", "'\(advertise)' is not a specific IP address with an optional port")
            }
        }
        for seed in join where seed.isEmpty { throw ConfigurationError("join", "an empty seed") }
        switch (keyFile, insecure) {
        case (nil, false):
            throw ConfigurationError("key_file", "no cluster key: give key_file (make one with `grapevine keygen`), or run without encryption with --insecure")
        case (_?, true):
            throw ConfigurationError("insecure", "both a key file and --insecure: choose one")
        default: break
        }
        guard label.utf8.count <= 255 else { throw ConfigurationError("label", "longer than 255 bytes") }
        guard !dataDir.isEmpty else { throw ConfigurationError("data_dir", "empty") }
        guard !apiSocket.isEmpty, apiSocket.utf8.count < 108 else { throw ConfigurationError("api_socket", "must be 1 to 107 bytes (sun_path)") }
        if let apiAddress {
            guard let a = Address(parsing: apiAddress), a.isLoopback else {
                throw ConfigurationError("api_address", "'\(apiAddress)' is not a loopback host:port; the API has no authentication beyond the socket's permissions")
            }
        }
        _ = try resolvedVTEP()
        guard (1...65535).contains(vxlanPort) else { throw ConfigurationError("vxlan_port", "\(vxlanPort) is not a port (1 to 65535)") }
        if let underlayMTU, !(576...65535).contains(underlayMTU) {
            throw ConfigurationError("underlay_mtu", "\(underlayMTU) is not 576 to 65535")
        }
        guard (1...86_400).contains(reconcileInterval) else { throw ConfigurationError("reconcile_interval", "\(reconcileInterval) is not 1 to 86400 seconds") }
        guard (0...3_600).contains(startupGrace) else { throw ConfigurationError("startup_grace", "\(startupGrace) is not 0 to 3600 seconds") }
        for (k, v) in tags where k.isEmpty || k.utf8.count > 128 || v.utf8.count > 512 {
            throw ConfigurationError("tags", "tag '\(k)' must have a 1 to 128 byte key and a value of at most 512 bytes")
        }
        var names = Set<String>(), vnis = Set<UInt32>(), interfaces = Set<String>()
        for n in networks {
            guard !n.name.isEmpty, n.name.utf8.count <= 64, n.name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw ConfigurationError("network", "name '\(n.name)' must be 1 to 64 letters, digits, '-', '_' or '.'")
            }
            guard n.vni.value >= 1 else { throw ConfigurationError("network", "\(n.name): VNI 0 is reserved") }
            guard names.insert(n.name).inserted else { throw ConfigurationError("network", "two networks named \(n.name)") }
            guard vnis.insert(n.vni.value).inserted else { throw ConfigurationError("network", "two networks with VNI \(n.vni)") }
            for interface in [n.bridge, n.device] {
                guard Self.isValidInterfaceName(interface) else {
                    throw ConfigurationError("network", "\(n.name): '\(interface)' is not an interface name (1 to 15 bytes, no '/', ':' or spaces)")
                }
                guard interfaces.insert(interface).inserted else { throw ConfigurationError("network", "interface \(interface) used twice") }
            }
        }
        guard (1...64).contains(handlerConcurrency) else { throw ConfigurationError("handler_concurrency", "\(handlerConcurrency) is not 1 to 64") }
        guard (1...3_600).contains(handlerTimeout) else { throw ConfigurationError("handler_timeout", "\(handlerTimeout) is not 1 to 3600 seconds") }
        guard dockerPluginSocket.utf8.count < 108 else { throw ConfigurationError("docker_plugin_socket", "longer than 107 bytes (sun_path)") }
        guard !dockerSocket.isEmpty, dockerSocket.utf8.count < 108 else { throw ConfigurationError("docker_socket", "must be 1 to 107 bytes (sun_path)") }
        if let dockerPluginAddress {
            guard let a = Address(parsing: dockerPluginAddress), a.isLoopback else {
                throw ConfigurationError("docker_plugin_address", "'\(dockerPluginAddress)' is not a loopback host:port; the plugin protocol has no authentication")
            }
        }
        if docker, dockerPluginSocket.isEmpty, dockerPluginAddress == nil {
            throw ConfigurationError("docker_plugin_socket", "the Docker plugin needs a socket or docker_plugin_address")
        }
        if let dnsAddress, NameSetup.socketAddress(dnsAddress) == nil {
            throw ConfigurationError("dns_address", "'\(dnsAddress)' is not an IP address or ip:port")
        }
        for upstream in dnsUpstream where NameSetup.socketAddress(upstream) == nil {
            throw ConfigurationError("dns_upstream", "'\(upstream)' is not an IP address or ip:port")
        }
        guard (0...31_536_000).contains(ipamQuarantine) else { throw ConfigurationError("ipam_quarantine", "\(ipamQuarantine) is not 0 to 31536000 seconds") }
    }

    /// The VTEP: `vtep`, else the advertised address's IP, else the bound one's.
    /// - Throws: when none of them gives a usable unicast address.
    public func resolvedVTEP() throws(ConfigurationError) -> IPAddress {
        if let vtep {
            guard let ip = IPAddress(vtep), ip.isUsableUnicast else { throw ConfigurationError("vtep", "'\(vtep)' is not a unicast IP address") }
            return ip
        }
        for text in [advertise, bind].compactMap({ $0 }) {
            if let a = Address(parsing: text, defaultPort: 7946), !a.isUnspecified,
               let ip = IPAddress(bytes: a.bytes), ip.isUsableUnicast {
                return ip
            }
        }
        throw ConfigurationError("vtep", "not given, and neither advertise nor bind names a specific address to take it from")
    }

    /// The VXLAN devices' MTU: the underlay's less the encapsulation, the underlay's being
    /// `underlay_mtu`, else `interfaceMTU` (the VTEP device's, in bytes), else 1500.
    public func deviceMTU(vtep: IPAddress, interfaceMTU: UInt32? = nil) -> UInt32 {
        Self.deviceMTU(underlay: underlayMTU ?? interfaceMTU.map(Int.init) ?? 1500, ipv6: vtep.family != 2)
    }

    /// An underlay MTU (bytes) less the encapsulation, kept within what the kernel accepts for
    /// a VXLAN device (68 to 65535 less the headers; a loopback underlay's 65536 is above).
    public static func deviceMTU(underlay: Int, ipv6: Bool) -> UInt32 {
        let overhead = encapsulationOverhead(ipv6: ipv6)
        return UInt32(min(max(underlay - overhead, 68), 65535 - overhead))
    }

    static func isValidInterfaceName(_ name: String) -> Bool {
        (1...15).contains(name.utf8.count) && name != "." && name != ".."
            && !name.utf8.contains { $0 <= 0x20 || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 >= 0x7F }
    }
}

extension IPAddress {
    init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4: self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16:
            self = .v6(bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }, bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) })
        default: return nil
        }
    }
}
