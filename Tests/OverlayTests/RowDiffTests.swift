import Addresses
import Testing
@testable import Overlay

/// What the kernel does with each operation (Docs/NETLINK.md): replace overwrites whatever row
/// holds the key, except that a learned FDB row stays learned (its destination changes, its
/// state and flags do not: seen on Linux 6.18, `DeviceReconcilerTests`); append adds a flood
/// destination; a delete removes only a row with that exact destination.
func apply(_ operations: [RowOperation], to rows: ObservedRows) -> ObservedRows {
    var rows = rows
    for op in operations {
        switch op {
        case .appendFlood(let v): rows.flood[v] = .ours
        case .deleteFlood(let v): rows.flood[v] = nil
        case .replaceUnicast(let m, let v): rows.unicast[m] = ObservedRow(v, origin: rows.unicast[m]?.origin == .learned ? .learned : .ours)
        case .deleteUnicast(let m, let v): if rows.unicast[m]?.value == v { rows.unicast[m] = nil }
        case .replaceNeighbor(let ip, let m): rows.neighbors[ip] = ObservedRow(m, origin: .ours)
        case .deleteNeighbor(let ip): rows.neighbors[ip] = nil
        }
    }
    return rows
}

@Suite struct RowDiffTests {
    @Test(arguments: 0..<300 as Range<UInt64>)
    func applyingTheDiffGivesTheDesiredRowsAndSparesForeignOnes(seed: UInt64) {
        var random = RandomOverlay(seed: seed)
        let observed = random.observed()
        let desired = random.desired()
        let diff = RowDiff(from: observed, to: desired)
        let after = apply(diff.operations, to: observed)

        for (m, v) in desired.unicast {
            let row = after.unicast[m]
            if observed.unicast[m]?.origin == .foreign {
                #expect(row == observed.unicast[m], "seed \(seed): an operator's row for \(m) changed")
                #expect(row?.value == v || diff.blocked.contains(.unicast(m, wanted: v, held: row!.value)), "seed \(seed)")
            } else {
                #expect(row == ObservedRow(v, origin: .ours), "seed \(seed): \(m)")
            }
        }
        for (ip, m) in desired.neighbors {
            let row = after.neighbors[ip]
            if observed.neighbors[ip]?.origin == .foreign {
                #expect(row == observed.neighbors[ip], "seed \(seed)")
            } else {
                #expect(row == ObservedRow(Optional(m), origin: .ours), "seed \(seed): \(ip)")
            }
        }
        for v in desired.flood { #expect(after.flood[v] != nil, "seed \(seed): flood \(v)") }
        // Nothing of ours is left that is not desired; nothing of anyone else's is gone.
        for (m, row) in after.unicast where row.origin == .ours { #expect(desired.unicast[m] == row.value, "seed \(seed)") }
        for (ip, row) in after.neighbors where row.origin == .ours { #expect(desired.neighbors[ip] == row.value, "seed \(seed)") }
        for (v, o) in after.flood where o == .ours { #expect(desired.flood.contains(v), "seed \(seed)") }
        for (m, row) in observed.unicast where row.origin != .ours && desired.unicast[m] == nil { #expect(after.unicast[m] == row) }
        for (ip, row) in observed.neighbors where row.origin != .ours && desired.neighbors[ip] == nil { #expect(after.neighbors[ip] == row) }
        for (v, o) in observed.flood where o != .ours { #expect(after.flood[v] == o) }

        // Applied once, nothing is left to do: the diff is minimal and converges in one pass.
        #expect(RowDiff(from: after, to: desired).operations.isEmpty, "seed \(seed)")
    }

    @Test(arguments: 0..<100 as Range<UInt64>)
    func rowsThatAreAlreadyRightGiveAnEmptyDiff(seed: UInt64) {
        var random = RandomOverlay(seed: seed)
        let desired = random.desired()
        var observed = ObservedRows()
        for v in desired.flood { observed.flood[v] = .ours }
        for (m, v) in desired.unicast { observed.unicast[m] = ObservedRow(v, origin: .ours) }
        for (ip, m) in desired.neighbors { observed.neighbors[ip] = ObservedRow(m, origin: .ours) }
        let diff = RowDiff(from: observed, to: desired)
        #expect(diff.operations.isEmpty && diff.blocked.isEmpty, "seed \(seed): \(diff.operations)")
    }

    @Test func aLearnedRowForAMACTheAgentProgramsIsDeletedAndWrittenAndOtherLearnedRowsAreLeftToAgeOut() {
        let peer = mac("02:00:00:00:00:01")
        let stranger = mac("02:00:00:00:00:02")
        let observed = ObservedRows(unicast: [peer: ObservedRow(ip("192.168.0.2"), origin: .learned),
                                              stranger: ObservedRow(ip("192.168.0.9"), origin: .learned)])
        let desired = NetworkRows(unicast: [peer: ip("192.168.0.2")])
        #expect(RowDiff(from: observed, to: desired).operations == [
            .deleteUnicast(peer, ip("192.168.0.2")), .replaceUnicast(peer, ip("192.168.0.2")),
        ])
    }

    @Test func anOperatorsRowIsNeverTouchedAndWhatItBlocksIsReported() {
        let m = mac("02:00:00:00:00:01")
        let observed = ObservedRows(flood: [ip("192.168.0.3"): .foreign],
                                    unicast: [m: ObservedRow(ip("192.168.0.7"), origin: .foreign)],
                                    neighbors: [ip("10.0.0.1"): ObservedRow(nil, origin: .foreign)])
        let desired = NetworkRows(flood: [ip("192.168.0.3")], unicast: [m: ip("192.168.0.2")],
                                  neighbors: [ip("10.0.0.1"): m])
        let diff = RowDiff(from: observed, to: desired)
        #expect(diff.operations.isEmpty, "a foreign flood row already floods there; the others are blocked")
        #expect(Set(diff.blocked) == [.unicast(m, wanted: ip("192.168.0.2"), held: ip("192.168.0.7")),
                                      .neighbor(ip("10.0.0.1"), wanted: m, held: nil)])
    }

    @Test func newPathsComeBeforeOldOnesGo() {
        let old = mac("02:00:00:00:00:01")
        let new = mac("02:00:00:00:00:02")
        let observed = ObservedRows(flood: [ip("192.168.0.1"): .ours],
                                    unicast: [old: ObservedRow(ip("192.168.0.1"), origin: .ours)],
                                    neighbors: [ip("10.0.0.1"): ObservedRow(old, origin: .ours)])
        let desired = NetworkRows(flood: [ip("192.168.0.2")], unicast: [new: ip("192.168.0.2")],
                                  neighbors: [ip("10.0.0.2"): new])
        #expect(RowDiff(from: observed, to: desired).operations == [
            .appendFlood(ip("192.168.0.2")),
            .replaceUnicast(new, ip("192.168.0.2")),
            .replaceNeighbor(ip("10.0.0.2"), new),
            .deleteNeighbor(ip("10.0.0.1")),
            .deleteUnicast(old, ip("192.168.0.1")),
            .deleteFlood(ip("192.168.0.1")),
        ])
    }
}
