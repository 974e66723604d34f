import Netlink

/// The rows every contender writes, identical for all of them.
struct Workload {
    let count: Int
    static let vteps: [String] = (1...16).map { "192.0.2.\($0)" }

    func mac(_ i: Int) -> MACAddress { MACAddress(value: 0x0200_0000_0000 | UInt64(i)) }
    func vtep(_ i: Int) -> String { Self.vteps[i % Self.vteps.count] }
    /// 10.100.0.0 upwards: unique per row, and only ever inside the benchmark's namespace.
    func neighborIP(_ i: Int) -> UInt32 { 0x0A64_0000 &+ UInt32(i) }

    func fdbChanges() -> [RowChange] {
        let vteps = Self.vteps.compactMap(IPAddress.init)
        return (0..<count).map { .putFDB(FDBEntry(mac: mac($0), destination: vteps[$0 % vteps.count])) }
    }

    func neighborChanges() -> [RowChange] {
        (0..<count).map { .putNeighbor(NeighborEntry(ip: .v4(neighborIP($0)), mac: mac($0))) }
    }

    /// `bridge -batch` input: the same rows, the way an operator would add them.
    func bridgeBatch() -> String {
        var text = ""
        text.reserveCapacity(count * 64)
        for i in 0..<count { text += "fdb add \(mac(i)) dev vx0 dst \(vtep(i)) self permanent\n" }
        return text
    }

    /// `ip -batch` input for the neighbour rows.
    func ipBatch() -> String {
        var text = ""
        text.reserveCapacity(count * 64)
        for i in 0..<count {
            text += "neigh add \(IPAddress.v4(neighborIP(i))) lladdr \(mac(i)) dev vx0 nud permanent\n"
        }
        return text
    }
}
