import Netlink
import Testing

@Test func netlinkErrorNamesTheOperation() {
    let error = NetlinkError(operation: "fdb add", code: -6, message: "Object exists")
    #expect(error.description == "fdb add: Object exists (-6)")
}
