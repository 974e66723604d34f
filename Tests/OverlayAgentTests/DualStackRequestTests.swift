import Addresses
import Foundation
import Overlay
import Testing
@testable import OverlayAgent

/// What the plugin makes of a dual-stack `CreateNetwork` (dockerd's JSON), and the names of a
/// network's two pools in `ipam.json`.
@Suite struct DualStackRequestTests {
    static func request(_ json: String) throws -> CreateNetworkRequest {
        try JSONDecoder().decode(CreateNetworkRequest.self, from: Data(json.utf8))
    }

    static func v6(_ pools: [(String, String?)], enable: Bool = true) -> String {
        let data = pools.map { p in #"{"AddressSpace":"grapevine","Pool":"\#(p.0)""# + (p.1.map { #","Gateway":"\#($0)""# } ?? "") + "}" }
        return #"{"NetworkID":"n1","Options":{"com.docker.network.enable_ipv6":\#(enable)},"IPv4Data":[{"Pool":"10.1.0.0/24"}],"IPv6Data":[\#(data.joined(separator: ","))]}"#
    }

    @Test func withoutIPv6ThereIsNoIPv6Subnet() throws {
        #expect(try DockerDriver.ipv6Subnet(Self.request(#"{"NetworkID":"n1","IPv4Data":[{"Pool":"10.1.0.0/24"}]}"#)) == nil)
        #expect(try DockerDriver.ipv6Subnet(Self.request(Self.v6([], enable: false))) == nil)
    }

    @Test func aDualStackRequestGivesItsIPv6Subnet() throws {
        #expect(try DockerDriver.ipv6Subnet(Self.request(Self.v6([("fd10::/64", "fd10::1/64")]))) == (try Subnet("fd10::/64")))
        #expect(try DockerDriver.ipv6Subnet(Self.request(Self.v6([("fd10::/120", nil)]))) == (try Subnet("fd10::/120")))
    }

    /// (IPv6 data, the refusal's code, words of its message)
    @Test(arguments: [
        ([] as [(String, String?)], "no_subnet", "IPv6 --subnet"),
        ([("10.2.0.0/24", nil)], "no_subnet", "IPv6 --subnet"),
        ([("fd10::/64", nil), ("fd11::/64", nil)], "bad_subnet", "one IPv6 subnet"),
        ([("fd10::/40", nil)], "bad_subnet", "/48 to /120"),
        ([("fd10::/124", nil)], "bad_subnet", "/48 to /120"),
        ([("fd10::/64", "fd10::9/64")], "bad_gateway", "fd10::1"),
    ])
    func aBadDualStackRequestIsRefusedWithItsReason(pools: [(String, String?)], code: String, words: String) throws {
        let request = try Self.request(Self.v6(pools))
        #expect {
            _ = try DockerDriver.ipv6Subnet(request)
        } throws: { error in
            guard let e = error as? PluginError else { return false }
            return e.code == code && e.message.contains(words)
        }
    }

    @Test func aNetworksSubnetsOverlapByFamily() throws {
        let other = NetworkDefinition(name: "a", vni: VNI(7)!, subnet: try Subnet("10.1.0.0/16"), subnet6: try Subnet("fd10::/48"),
                                      time: 1, origin: "h1")
        #expect(DockerDriver.overlap(try Subnet("10.2.0.0/24"), try Subnet("fd11::/64"), other) == nil)
        #expect(DockerDriver.overlap(try Subnet("10.1.5.0/24"), nil, other).map { "\($0.0) \($0.1)" } == "10.1.5.0/24 10.1.0.0/16")
        #expect(DockerDriver.overlap(try Subnet("10.2.0.0/24"), try Subnet("fd10:0:0:5::/64"), other).map { "\($0.0) \($0.1)" }
                == "fd10:0:0:5::/64 fd10::/48")
        var v4only = other
        v4only.subnet6 = nil
        #expect(DockerDriver.overlap(try Subnet("10.2.0.0/24"), try Subnet("fd10::/64"), v4only) == nil)
    }

    @Test func thePoolsOfANetworkHaveTagsThatRoundTrip() {
        let vni = VNI(4096)!
        #expect(PoolKey(vni, ipv6: false).tag == "4096", "an IPv4 pool's entry is named as before IPv6 pools")
        #expect(PoolKey(vni, ipv6: true).tag == "4096/6")
        for key in [PoolKey(vni, ipv6: false), PoolKey(vni, ipv6: true)] { #expect(PoolKey(tag: key.tag) == key) }
        for bad in ["", "/6", "4096/4", "04096", "4096/6/6", "16777216", "x/6", "-1"] { #expect(PoolKey(tag: bad) == nil, "\(bad)") }
        #expect(PoolKey(vni, of: IPAddress("fd10::5")!) == PoolKey(vni, ipv6: true))
        #expect(PoolKey(vni, of: IPAddress("10.0.0.5")!) == PoolKey(vni, ipv6: false))
        #expect(PoolKey(vni, ipv6: false) < PoolKey(vni, ipv6: true) && PoolKey(vni, ipv6: true) < PoolKey(VNI(4097)!, ipv6: false))
    }
}
