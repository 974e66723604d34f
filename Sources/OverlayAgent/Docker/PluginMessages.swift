// Docker's plugin protocol for network and IPAM drivers (JSON over HTTP, Go's field names):
// libnetwork `drivers/remote/api/api.go` and `ipams/remote/api/api.go` at c5aa85f9, the version
// dockerd 20.10.24 vendors; shapes and call order as observed in
// ../shared/research/docker-plugins.md. Only the fields the driver reads are decoded.

/// A refusal Docker shows its user: sent as HTTP 500 with `{"Err": message}` (the IPAM side
/// ignores an error carried in a 200 reply).
struct PluginError: Error, Sendable, CustomStringConvertible {
    var code: String
    var message: String
    init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }
    var description: String { message }
}

struct PluginErrorReply: Encodable { var Err: String }

struct ActivateReply: Encodable { var Implements = ["NetworkDriver", "IpamDriver"] }

/// `local`: each dockerd keeps its own copy of a network (`global` needs Swarm); the agent
/// makes the copies through the engine API.
struct NetworkCapabilitiesReply: Encodable {
    var Scope = "local"
    var ConnectivityScope = "global"
}

/// No MAC needed from Docker (the driver makes one), and no replay at dockerd start: the
/// agent persists its leases.
struct IPAMCapabilitiesReply: Encodable {
    var RequiresMACAddress = false
    var RequiresRequestReplay = false
}

struct AddressSpacesReply: Encodable {
    var LocalDefaultAddressSpace = "grapevine"
    var GlobalDefaultAddressSpace = "grapevine"
}

struct EmptyReply: Encodable {}

// MARK: IPAM

struct RequestPoolRequest: Decodable, Sendable {
    var AddressSpace: String?
    var Pool: String?
    var SubPool: String?
    var Options: [String: String]?
    var V6: Bool?
}

struct RequestPoolReply: Encodable {
    var PoolID: String
    var Pool: String
    var Data: [String: String]
}

struct PoolRequest: Decodable, Sendable { var PoolID: String }

struct RequestAddressRequest: Decodable, Sendable {
    var PoolID: String
    var Address: String?
    var Options: [String: String]?
}

struct RequestAddressReply: Encodable {
    var Address: String
    var Data: [String: String] = [:]
}

struct ReleaseAddressRequest: Decodable, Sendable {
    var PoolID: String
    var Address: String
}

// MARK: network driver

struct IPAMData: Decodable, Sendable {
    var AddressSpace: String?
    var Pool: String
    var Gateway: String?
}

/// `Options` mixes value types (booleans beside the map of `-o` options), so it is decoded
/// by key.
struct NetworkOptions: Decodable, Sendable {
    var generic: [String: String]
    var `internal`: Bool
    var enableIPv6: Bool

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        generic = try c.decodeIfPresent([String: String].self, forKey: Key("com.docker.network.generic")) ?? [:]
        `internal` = try c.decodeIfPresent(Bool.self, forKey: Key("com.docker.network.internal")) ?? false
        enableIPv6 = try c.decodeIfPresent(Bool.self, forKey: Key("com.docker.network.enable_ipv6")) ?? false
    }
}

struct CreateNetworkRequest: Decodable, Sendable {
    var NetworkID: String
    var Options: NetworkOptions?
    var IPv4Data: [IPAMData]?
    var IPv6Data: [IPAMData]?
}

struct NetworkRequest: Decodable, Sendable { var NetworkID: String }

struct EndpointInterface: Codable, Sendable {
    var Address: String?
    var AddressIPv6: String?
    var MacAddress: String?
}

struct CreateEndpointRequest: Decodable, Sendable {
    var NetworkID: String
    var EndpointID: String
    var Interface: EndpointInterface?
}

/// Only the MAC may come back: returning an address makes dockerd roll the endpoint back
/// (libnetwork#665).
struct CreateEndpointReply: Encodable {
    struct Interface: Encodable { var MacAddress: String }
    var Interface: Interface?
}

struct DockerEndpointRequest: Decodable, Sendable {
    var NetworkID: String
    var EndpointID: String
}

struct DockerJoinReply: Encodable {
    struct InterfaceName: Encodable {
        var SrcName: String
        var DstPrefix: String
    }
    /// `RouteType` 1 is a connected route (no next hop), on the joined interface.
    struct StaticRoute: Encodable, Equatable {
        var Destination: String
        var RouteType: Int
    }
    var InterfaceName: InterfaceName
    var DisableGatewayService = false
    /// The route to the name service's address (Names/NameBridges.swift), when it has one.
    var StaticRoutes: [StaticRoute]?
}

struct OperInfoReply: Encodable { var Value: [String: String] = [:] }
