import Addresses
import DNS
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import Overlay
import Testing
@testable import OverlayAgent

/// The name table and the answer decision, from replicas built by hand: no sockets.
@Suite struct NameTableTests {
    static let front = VNI(4100)!
    static let back = VNI(4200)!

    static func definition(_ name: String, _ vni: VNI, _ subnet: String) -> OverlayRow {
        .network(NetworkDefinition(name: name, vni: vni, subnet: try! Subnet(subnet), subnet6: nil, internal: false,
                                   deleted: false, time: 1, origin: "h0"))
    }

    static func endpoint(_ owner: String, _ vni: VNI, _ ip: String, name: String?, aliases: [String] = [], time: UInt64 = 5) -> OverlayRow {
        let v4 = IPAddress(ip)!
        guard case .v4(let raw) = v4 else { fatalError() }
        return .endpoint(Endpoint(network: vni, mac: MACAddress(value: 0x0242_0000_0000 | UInt64(raw)), ipv4: v4, name: name,
                                  aliases: aliases, claim: Claim(time: time, owner: owner)))
    }

    /// Three hosts, two networks: front (10.1.0.0/24) with c0 on h0, c1 on h1, two holders of
    /// the alias "api" on h1 and h2; back (10.2.0.0/24) with db on h2.
    static func replica() -> Replica {
        var r = Replica()
        for (i, h) in ["h0", "h1", "h2"].enumerated() {
            r.add(.host(vtep: IPAddress("192.168.0.\(i + 1)")!, networks: [front, back]), owner: h, live: true)
        }
        r.add(definition("front", front, "10.1.0.0/24"), owner: "h0", live: true)
        r.add(definition("back", back, "10.2.0.0/24"), owner: "h0", live: true)
        r.add(endpoint("h0", front, "10.1.0.2", name: "c0"), owner: "h0", live: true)
        r.add(endpoint("h1", front, "10.1.0.3", name: "c1"), owner: "h1", live: true)
        r.add(endpoint("h1", front, "10.1.0.4", name: "api-1", aliases: ["api"]), owner: "h1", live: true)
        r.add(endpoint("h2", front, "10.1.0.5", name: "api-2", aliases: ["API"]), owner: "h2", live: true)
        r.add(endpoint("h2", back, "10.2.0.9", name: "db"), owner: "h2", live: true)
        return r
    }

    static let fromFront = IPAddress("10.1.0.3")!
    static let fromBack = IPAddress("10.2.0.9")!

    func addresses(_ holders: [NameTable.Holder]?) -> [String]? {
        holders.map { $0.flatMap(\.addresses).map(\.description) }
    }

    @Test func namesResolveWithinTheirNetworkAndWithItsName() throws {
        let table = NameTable(replica: Self.replica())
        #expect(addresses(table.lookup(try DNSName("c0"), from: Self.fromFront)) == ["10.1.0.2"])
        #expect(addresses(table.lookup(try DNSName("C0.Front."), from: Self.fromFront)) == ["10.1.0.2"])
        #expect(addresses(table.lookup(try DNSName("db.back"), from: Self.fromBack)) == ["10.2.0.9"])
        #expect(table.conflicts.isEmpty)
    }

    @Test func namesOfAnotherNetworkAreNotSeen() throws {
        let table = NameTable(replica: Self.replica())
        #expect(table.lookup(try DNSName("db"), from: Self.fromFront) == nil)
        #expect(table.lookup(try DNSName("db.back"), from: Self.fromFront) == nil)
        #expect(table.lookup(try DNSName("c0"), from: Self.fromBack) == nil)
        // A source on no overlay network (the host itself) sees nothing.
        #expect(table.lookup(try DNSName("c0"), from: IPAddress("192.168.0.1")!) == nil)
    }

    @Test func anAliasAnswersWithEveryHolder() throws {
        let table = NameTable(replica: Self.replica())
        #expect(addresses(table.lookup(try DNSName("api"), from: Self.fromFront)) == ["10.1.0.4", "10.1.0.5"])
    }

    @Test func aRemovedEndpointAndAFailedHostStopResolving() throws {
        var r = Self.replica()
        r.removeEndpoint(owner: "h0", network: Self.front, mac: MACAddress(value: 0x0242_0a01_0002))
        #expect(NameTable(replica: r).lookup(try DNSName("c0"), from: Self.fromFront) == nil)
        r.setLive(false, owner: "h2")
        #expect(addresses(NameTable(replica: r).lookup(try DNSName("api"), from: Self.fromFront)) == ["10.1.0.4"])
    }

    /// The same container name on two hosts: the older claim wins on every host, and the
    /// conflict is reported.
    @Test(arguments: [(3, 9), (9, 3), (5, 5)] as [(UInt64, UInt64)])
    func aNameHeldTwiceIsDecidedTheSameWayEverywhere(t1: UInt64, t2: UInt64) throws {
        var r = Self.replica()
        r.add(Self.endpoint("h1", Self.front, "10.1.0.20", name: "dup", time: t1), owner: "h1", live: true)
        r.add(Self.endpoint("h2", Self.front, "10.1.0.30", name: "dup", time: t2), owner: "h2", live: true)
        let table = NameTable(replica: r)
        let expected = t1 <= t2 ? "10.1.0.20" : "10.1.0.30"
        #expect(addresses(table.lookup(try DNSName("dup"), from: Self.fromFront)) == [expected])
        #expect(table.conflicts.count == 1)
        #expect(table.conflicts.first?.name == "dup")
        #expect(table.conflicts.first?.losers.count == 1)
        // `grapevine dns` lists both holders, the answered one first.
        let listed = table.views().filter { $0.name == "dup" }
        #expect(listed.map(\.addresses) == [[expected], [expected == "10.1.0.20" ? "10.1.0.30" : "10.1.0.20"]])
        #expect(listed.map(\.answered) == [true, false])
    }

    // MARK: the answer decision

    static func query(_ name: String, type: UInt16 = DNSType.a, id: UInt16 = 0x4242) -> ByteBuffer {
        var flags = DNSFlags()
        flags.recursionDesired = true
        var b = ByteBuffer()
        try! DNSMessage(id: id, flags: flags, questions: [DNSQuestion(name: try! DNSName(name), type: type)]).encode(into: &b)
        return b
    }

    func answer(_ d: NameDecision) throws -> (DNSMessage, NameOutcome) {
        guard case .answer(let bytes, let outcome) = d else { throw Unexpected(d) }
        return (try DNSMessage.decode(bytes), outcome)
    }

    struct Unexpected: Error { var decision: NameDecision; init(_ d: NameDecision) { decision = d } }

    @Test func answersAWithTTLZeroAndRotatesHolders() throws {
        let table = NameTable(replica: Self.replica())
        let (m0, o0) = try answer(NameResponder.decide(Self.query("api"), from: Self.fromFront, table: table, rotation: 0))
        let (m1, _) = try answer(NameResponder.decide(Self.query("api"), from: Self.fromFront, table: table, rotation: 1))
        #expect(o0 == .found)
        #expect(m0.id == 0x4242 && m0.flags.response && m0.flags.authoritative && m0.flags.responseCode == 0)
        #expect(m0.answers.map(\.data) == [[10, 1, 0, 4], [10, 1, 0, 5]])
        #expect(m1.answers.map(\.data) == [[10, 1, 0, 5], [10, 1, 0, 4]])
        #expect(m0.answers.allSatisfy { $0.ttl == 0 && $0.type == DNSType.a })
    }

    @Test func aaaaOfAnIPv4OnlyNameIsNoData() throws {
        let table = NameTable(replica: Self.replica())
        let (m, outcome) = try answer(NameResponder.decide(Self.query("c0", type: DNSType.aaaa), from: Self.fromFront, table: table, rotation: 0))
        #expect(outcome == .noData)
        #expect(m.answers.isEmpty && m.flags.responseCode == DNSResponseCode.noError)
    }

    @Test func otherNamesAndOtherNetworksAreForwarded() {
        let table = NameTable(replica: Self.replica())
        #expect(NameResponder.decide(Self.query("example.org"), from: Self.fromFront, table: table, rotation: 0) == .forward)
        #expect(NameResponder.decide(Self.query("db"), from: Self.fromFront, table: table, rotation: 0) == .forward)
    }

    @Test func malformedQueriesGetFormErrAndResponsesNothing() throws {
        let table = NameTable(replica: Self.replica())
        // A pointer loop in the question.
        let loop = ByteBuffer(bytes: [0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1])
        let (m, outcome) = try answer(NameResponder.decide(loop, from: Self.fromFront, table: table, rotation: 0))
        #expect(outcome == .refused && m.id == 9 && m.flags.responseCode == DNSResponseCode.formatError)
        let response = ByteBuffer(bytes: [0, 9, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(NameResponder.decide(response, from: Self.fromFront, table: table, rotation: 0) == .drop("response"))
        #expect(NameResponder.decide(ByteBuffer(bytes: [1, 2]), from: Self.fromFront, table: table, rotation: 0) == .drop("short"))
    }

    /// 40 holders of one alias: over UDP the answer stops at what 512 bytes hold, with TC set;
    /// over TCP it holds all 40, TC clear; one that fits has TC clear.
    @Test func manyHoldersFitTheUDPSize() throws {
        var r = Self.replica()
        for i in 0..<40 {
            r.add(Self.endpoint("h\(i % 3)", Self.front, "10.1.0.\(100 + i)", name: "w\(i)", aliases: ["many"]), owner: "h\(i % 3)", live: true)
        }
        let bytes: ByteBuffer
        guard case .answer(let b, _) = NameResponder.decide(Self.query("many"), from: Self.fromFront, table: NameTable(replica: r), rotation: 0) else {
            Issue.record("no answer")
            return
        }
        bytes = b
        #expect(bytes.readableBytes <= 512)
        #expect(try DNSMessage.decode(bytes).answers.count == (512 - 12 - 10) / 16)
        #expect(try DNSMessage.decode(bytes).flags.truncated)
        let (whole, _) = try answer(NameResponder.decide(Self.query("many"), from: Self.fromFront, table: NameTable(replica: r),
                                                         rotation: 0, over: .tcp))
        #expect(whole.answers.count == 40 && !whole.flags.truncated)
        let (small, _) = try answer(NameResponder.decide(Self.query("c0"), from: Self.fromFront, table: NameTable(replica: r), rotation: 0))
        #expect(small.answers.count == 1 && !small.flags.truncated)
    }

    @Test func setupReadsResolvConfAndDaemonJSON() {
        let listen = NameSetup.socketAddress("169.254.53.53")!
        let conf = "# comment\nnameserver 10.0.0.1\nsearch x\nnameserver 169.254.53.53\nnameserver ::1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n"
        #expect(NameSetup.upstreams(configured: [], resolvConf: conf, listen: listen).map { "\($0.ipAddress!):\($0.port!)" }
                == ["10.0.0.1:53", "::1:53", "10.0.0.2:53"])
        #expect(NameSetup.upstreams(configured: ["127.0.0.1:5353"], resolvConf: conf, listen: listen).map(\.port) == [5353])
        #expect(NameSetup.checkDaemonConfig(Data(#"{"dns": ["169.254.53.53"]}"#.utf8), address: "169.254.53.53") == .ok)
        #expect(NameSetup.checkDaemonConfig(Data(#"{"dns": ["8.8.8.8"]}"#.utf8), address: "169.254.53.53") == .missing(have: ["8.8.8.8"]))
        #expect(NameSetup.checkDaemonConfig(Data("{}".utf8), address: "169.254.53.53") == .missing(have: []))
        #expect(NameSetup.checkDaemonConfig(nil, address: "169.254.53.53") == .noFile)
    }
}
