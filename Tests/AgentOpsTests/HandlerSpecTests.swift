@testable import OverlayAgent
import Testing

struct HandlerSpecTests {
    static let good: [(String, [HandlerSpec.Filter], String)] = [
        ("./handler.sh", [.any], "./handler.sh"),
        ("*=./handler.sh", [.any], "./handler.sh"),
        ("member-join=join.sh", [.event(.memberJoin)], "join.sh"),
        ("member-leave,member-failed=gone.sh --quiet", [.event(.memberLeave), .event(.memberFailed)], "gone.sh --quiet"),
        ("member-update,member-reap=x", [.event(.memberUpdate), .event(.memberReap)], "x"),
        ("user=every-user-event", [.event(.user)], "every-user-event"),
        ("user:=every-user-event", [.event(.user)], "every-user-event"),
        ("user:deploy=deploy.sh", [.user("deploy")], "deploy.sh"),
        ("query:load=uptime", [.query("load")], "uptime"),
        ("query=answer-all", [.event(.query)], "answer-all"),
        ("user:deploy,query:load=both", [.user("deploy"), .query("load")], "both"),
        ("*=env A=1 B=2 ./x", [.any], "env A=1 B=2 ./x"),
    ]

    @Test(arguments: good) func parses(text: String, filters: [HandlerSpec.Filter], script: String) throws {
        let spec = try HandlerSpec(parsing: text)
        #expect(spec.filters == filters)
        #expect(spec.script == script)
        // The description parses back to the same handler.
        #expect(try HandlerSpec(parsing: spec.description) == spec)
    }

    static let bad: [(String, String)] = [
        ("", "the script is empty"),
        ("   ", "the script is empty"),
        ("member-join=", "the script is empty"),
        ("member-join=  ", "the script is empty"),
        ("member-joined=x", "unknown event type \"member-joined\""),
        ("echo a=b", "unknown event type \"echo a\""),
        ("member-join,,member-leave=x", "an empty event type"),
        ("=x", "an empty event type"),
        ("member-join,=x", "an empty event type"),
        ("user:two words=x", "holds white space"),
        ("Member-Join=x", "unknown event type \"Member-Join\""),
    ]

    @Test(arguments: bad) func refuses(text: String, reason: String) {
        #expect {
            try HandlerSpec(parsing: text)
        } throws: { error in
            guard let error = error as? HandlerSpecError else { return false }
            return error.spec == text && error.reason.contains(reason) && error.description.contains(reason)
        }
    }

    @Test func matching() throws {
        let deploy = try HandlerSpec(parsing: "user:deploy,member-join=x")
        #expect(deploy.matches(.user, name: "deploy"))
        #expect(!deploy.matches(.user, name: "deploy2"))
        #expect(!deploy.matches(.query, name: "deploy"))
        #expect(deploy.matches(.memberJoin))
        #expect(!deploy.matches(.memberLeave))
        let all = try HandlerSpec(parsing: "x")
        #expect(HandlerEvent.allCases.allSatisfy { all.matches($0, name: "n") })
        let users = try HandlerSpec(parsing: "user=x")
        #expect(users.matches(.user, name: "anything") && !users.matches(.query, name: "anything"))
    }

    @Test(arguments: [("10.0.0.1:7946", "10.0.0.1"), ("[fd00::1]:7946", "fd00::1"), ("fd00::1", "fd00::1"),
                      ("host", "host")])
    func addressWithoutPort(address: String, host: String) {
        #expect(HandlerInvocation.host(of: address) == host)
    }

    @Test(arguments: [("role", "ROLE"), ("dc-1.zone", "DC_1_ZONE"), ("ünï", "_N_"), ("a_B9", "A_B9")])
    func tagEnvironmentName(key: String, name: String) {
        #expect(HandlerInvocation.envName(key) == name)
    }
}
