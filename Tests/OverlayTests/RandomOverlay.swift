import struct GrapevineTestSupport.SplitMix
import Addresses
@testable import Overlay

func vni(_ v: UInt32) -> VNI { VNI(v)! }
func ip(_ text: String) -> IPAddress { IPAddress(text)! }
func mac(_ text: String) -> MACAddress { MACAddress(text)! }

/// Small random clusters whose values collide often (few MACs, few IPs, few networks), so
/// conflicts, moves and shared networks all happen.
struct RandomOverlay {
    var rng: SplitMix

    init(seed: UInt64) { rng = SplitMix(seed: seed) }

    mutating func mac() -> MACAddress { MACAddress(0x02, 0, 0, 0, 0, UInt8.random(in: 1...12, using: &rng)) }
    mutating func ipv4() -> IPAddress { .v4(0x0A00_0000 | UInt32.random(in: 1...12, using: &rng)) }
    mutating func vtep() -> IPAddress { .v4(0xC0A8_0000 | UInt32.random(in: 1...20, using: &rng)) }
    mutating func network() -> VNI { VNI(UInt32.random(in: 100...102, using: &rng))! }

    mutating func replica(hosts count: Int, endpoints: Int) -> Replica {
        var replica = Replica()
        for h in 0..<count {
            let networks = Set((0..<Int.random(in: 0...2, using: &rng)).map { _ in network() })
            replica.add(.host(vtep: .v4(0xC0A8_0000 | UInt32(h + 1)), networks: networks), owner: "h\(h)",
                        live: Int.random(in: 0..<5, using: &rng) != 0)
        }
        for _ in 0..<endpoints {
            let owner = "h\(Int.random(in: 0..<count + 1, using: &rng))"  // h<count> has no host row
            replica.insert(Endpoint(
                network: network(), mac: mac(), ipv4: Bool.random(using: &rng) ? ipv4() : nil,
                claim: Claim(time: UInt64.random(in: 1...6, using: &rng), owner: owner)))
        }
        return replica
    }

    mutating func origin() -> RowOrigin { [.ours, .ours, .learned, .foreign].randomElement(using: &rng)! }

    mutating func observed() -> ObservedRows {
        var rows = ObservedRows()
        for _ in 0..<Int.random(in: 0...6, using: &rng) { rows.flood[vtep()] = origin() }
        for _ in 0..<Int.random(in: 0...8, using: &rng) { rows.unicast[mac()] = ObservedRow(vtep(), origin: origin()) }
        for _ in 0..<Int.random(in: 0...8, using: &rng) {
            rows.neighbors[ipv4()] = ObservedRow(Int.random(in: 0..<6, using: &rng) == 0 ? nil : mac(), origin: origin())
        }
        return rows
    }

    mutating func desired() -> NetworkRows {
        var rows = NetworkRows()
        for _ in 0..<Int.random(in: 0...6, using: &rng) { rows.flood.insert(vtep()) }
        for _ in 0..<Int.random(in: 0...8, using: &rng) { rows.unicast[mac()] = vtep() }
        for _ in 0..<Int.random(in: 0...8, using: &rng) { rows.neighbors[ipv4()] = mac() }
        return rows
    }
}
