@testable import GossipCore
import Testing

/// The trees state rows travel along (`StateTrees`): flooding over them from the owner reaches
/// every member, each member has a parent in each tree, the copies are about `trees` per
/// member, and one member missing cuts no other off.
@Suite struct StateTreesTests {
    /// Positions reached by flooding from `root` (each reached position forwards once to its
    /// children), skipping `dead`; and how many copies were sent, and the depth.
    static func flood(n: Int, root: Int, trees: Int, fanout: Int, dead: Set<Int> = []) -> (reached: Set<Int>, copies: Int, depth: Int) {
        var reached: Set<Int> = [root]
        var frontier = [root]
        var copies = 0
        var depth = 0
        while !frontier.isEmpty {
            var next: [Int] = []
            for p in frontier {
                for c in StateTrees.children(of: p, root: root, count: n, trees: trees, fanout: fanout) {
                    copies += 1
                    if dead.contains(c) || reached.contains(c) { continue }
                    reached.insert(c)
                    next.append(c)
                }
            }
            if !next.isEmpty { depth += 1 }
            frontier = next
        }
        return (reached, copies, depth)
    }

    @Test(arguments: [1, 2, 3, 5, 16, 100, 257, 1_000])
    func floodingReachesEveryMemberWithAboutTreesCopiesEach(n: Int) {
        for root in Set([0, n / 3, n - 1]) {
            for trees in 1...4 {
                let f = Self.flood(n: n, root: root, trees: trees, fanout: 4)
                #expect(f.reached.count == n, "n \(n), root \(root), trees \(trees)")
                // Each tree has n - 1 edges; a child shared by two trees of one parent is sent once.
                #expect(f.copies <= trees * (n - 1))
                if n >= 100 { #expect(f.copies >= (trees * (n - 1)) * 9 / 10, "n \(n), trees \(trees): \(f.copies) copies") }
            }
        }
    }

    @Test func theTreesAreShallow() {
        // A 4-ary heap of 1,000 has 5 levels below the root; flooding over three is no deeper.
        #expect(Self.flood(n: 1_000, root: 17, trees: 3, fanout: 4).depth <= 5)
        #expect(Self.flood(n: 1_000, root: 17, trees: 1, fanout: 4).depth == 5)
    }

    /// A dead member that every view still counts live (not yet detected) cuts its subtree off
    /// in one tree; the other trees still reach every live member.
    @Test(arguments: [16, 100, 1_000])
    func oneDeadMemberCutsNoOtherOff(n: Int) {
        let root = n / 2
        for dead in 0..<n where dead != root {
            let f = Self.flood(n: n, root: root, trees: 3, fanout: 4, dead: [dead])
            #expect(f.reached.count == n - 1, "n \(n): member \(dead) dead")
            if f.reached.count != n - 1 { return }
        }
    }

    @Test(arguments: [2, 3, 4, 100, 1_000, 1_024])
    func everyMemberHasADistinctParentInEachTree(n: Int) {
        for trees in 1...6 {
            var parents = [Set<Int>](repeating: [], count: n)
            for p in 0..<n {
                for c in StateTrees.children(of: p, root: 0, count: n, trees: trees, fanout: 4) {
                    #expect(c != p && c != 0)
                    parents[c].insert(p)
                }
            }
            #expect(parents[0].isEmpty)
            for c in 1..<n {
                #expect(!parents[c].isEmpty)
                // Up to `trees` parents; fewer only on rings too small for distinct multipliers.
                #expect(parents[c].count <= trees)
            }
            if n >= 100 {
                let full = (1..<n).filter { parents[$0].count == min(trees, 6) }.count
                #expect(full * 10 >= (n - 1) * 9, "n \(n), trees \(trees): \(full) of \(n - 1) have a parent per tree")
            }
        }
    }

    @Test func badArgumentsGiveNoChildren() {
        #expect(StateTrees.children(of: 5, root: 0, count: 3, trees: 3, fanout: 4).isEmpty)
        #expect(StateTrees.children(of: 0, root: -1, count: 3, trees: 3, fanout: 4).isEmpty)
        #expect(StateTrees.children(of: 0, root: 0, count: 1, trees: 3, fanout: 4).isEmpty)
        #expect(StateTrees.children(of: 0, root: 0, count: 10, trees: 0, fanout: 4).isEmpty)
    }

    @Test func multipliersAreInvertible() {
        for n in [3, 4, 6, 10, 12, 30, 100, 210, 1_000, 2_310] {
            for j in 0..<8 {
                let (m, inverse) = StateTrees.multiplier(tree: j, count: n)
                #expect(m * inverse % n == 1 % n, "n \(n), tree \(j)")
            }
        }
    }

    /// The ring a node lays the trees on: its live members by name, whatever the table's order;
    /// a place found from a table position (a hint) is the place the search by name finds, also
    /// after the table's positions moved under a ring built before.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func theRingHoldsTheLiveMembersByNameAndPlacesThemByTablePosition(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var table = MemberTable()
        for k in 0..<60 {
            let status: MemberStatus = [.alive, .alive, .suspect, .failed, .left][rng.index(below: 5)]
            table.insert(
                Member(name: "node-\(k)", address: Address(ipv4: 1, port: UInt16(k + 1)), incarnation: 0, status: k == 7 ? .alive : status,
                       tags: Tags(), statusChangedAt: .zero),
                rng: &rng)
        }
        let live = (0..<table.count).filter { table.status(at: $0) <= .suspect }.map { table[$0].name }.sorted()
        let ring = StateRing(table, selfName: "node-7")
        #expect(ring.members.map(\.name) == live)
        #expect(ring.me == live.firstIndex(of: "node-7"))
        func check(_ table: MemberTable) {
            for i in 0..<table.count {
                let name = table[i].name
                let place = live.firstIndex(of: name)
                #expect(ring.position(of: name, tablePosition: i) == place, "\(name)")
                #expect(ring.position(of: name, tablePosition: nil) == place, "\(name)")
                // A wrong hint, or one past the table, is checked by name and not taken.
                #expect(ring.position(of: name, tablePosition: (i + 1) % table.count) == place, "\(name)")
                #expect(ring.position(of: name, tablePosition: table.count + 5) == place, "\(name)")
            }
            #expect(ring.position(of: "node-99", tablePosition: 0) == nil)
        }
        check(table)
        // Positions move without the ring being built again (a shuffle makes no membership event).
        table.shuffle(rng: &rng)
        check(table)
        #expect(StateRing(MemberTable(), selfName: "a").me == nil)
    }

    @Test func ringSearchFindsNamesInOrder() {
        let ring = ["a", "b", "node-10", "node-2"]
        for (i, name) in ring.enumerated() { #expect(StateRing.search(name, count: ring.count) { ring[$0] } == i) }
        #expect(StateRing.search("c", count: ring.count) { ring[$0] } == nil)
        #expect(StateRing.search("a", count: 0) { _ in "" } == nil)
    }
}
