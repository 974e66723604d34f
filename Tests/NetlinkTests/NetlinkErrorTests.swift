import GrapevineTestSupport
import Netlink
import Testing

@Test func netlinkErrorNamesTheOperation() {
    let error = NetlinkError(operation: "fdb add", code: -6, message: "Object exists")
    #expect(error.description == "fdb add: Object exists (-6)")
}

@Test func lostStateIsRecognisedFromBothSources() {
    // ENOBUFS from a raw socket and NLE_NOMEM from libnl both mean "dropped: resync".
    #expect(NetlinkError(operation: "x", code: -105, message: "", source: .kernel).meansStateLost)
    #expect(NetlinkError(operation: "x", code: -5, message: "", source: .libnl).meansStateLost)
    #expect(!NetlinkError(operation: "x", code: -2, message: "", source: .kernel).meansStateLost)
    #expect(NetlinkError(operation: "x", code: -2, message: "").errno == 2)
}

@Test func namespaceNamesCannotEscapeTheNetnsDirectory() {
    #expect(throws: NetlinkError.self) { try LinkSocket(namespace: .named("../etc")) }
    #expect(throws: NetlinkError.self) { try VXLANTable(namespace: .named("gvnl-does-not-exist-\(UInt64.random(in: 0...UInt64.max))")) }
}
