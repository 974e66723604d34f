import Foundation
import OverlayAgent
import Testing

/// The built `grapevine` binary against a running server: exit codes 0, 1, 2, 3 and 64.
@Suite struct CLITests {
    /// Beside the test bundle in the build products directory.
    static var executable: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("grapevine").path
    }

    struct Run {
        var status: Int32
        var output: String
        var error: String
    }

    /// Runs `grapevine` with `arguments` (and without GRAPEVINE_* from our environment).
    /// Output goes to files, not pipes: reading a pipe would block a thread of the pool the
    /// server's agent runs on.
    func grapevine(_ arguments: [String]) async throws -> Run {
        try await withTemporaryDirectory { directory in
            let outPath = directory + "/out"
            let errPath = directory + "/err"
            _ = FileManager.default.createFile(atPath: outPath, contents: nil)
            _ = FileManager.default.createFile(atPath: errPath, contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.executable)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("GRAPEVINE_") }
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
            let exited = AsyncStream<Void> { continuation in
                process.terminationHandler = { _ in continuation.finish() }
            }
            try process.run()
            for await _ in exited {}
            return Run(status: process.terminationStatus, output: try String(contentsOfFile: outPath, encoding: .utf8),
                       error: try String(contentsOfFile: errPath, encoding: .utf8))
        }
    }

    private func built() -> Bool {
        if FileManager.default.isExecutableFile(atPath: Self.executable) { return true }
        Issue.record("grapevine not built next to the tests: \(Self.executable)")
        return false
    }

    @Test func endpointAddSucceedsThenTheDuplicateIsRefusedWithExitOne() async throws {
        guard built() else { return }
        try await withServer { server in
            let add = ["endpoint", "add", "--socket", server.socketPath, "--network", "blue", "--mac", "02:00:00:00:00:01", "--ip", "10.1.0.1"]
            let first = try await grapevine(add)
            #expect(first.status == 0, "\(first.error)")
            #expect(first.output.contains("02:00:00:00:00:01"))

            let again = try await grapevine(add)
            #expect(again.status == 1)
            #expect(again.error == "error: 02:00:00:00:00:01 is already registered in blue (duplicate_endpoint)\n")
            #expect(await server.agent.stored.count == 1)
        }
    }

    @Test(arguments: [
        (["--network", "green", "--mac", "02:00:00:00:00:09"], "unknown_network"),
        (["--network", "blue", "--mac", "zz:00:00:00:00:09"], "bad_mac"),
        (["--network", "blue", "--mac", "02:00:00:00:00:09", "--ip", "10.1.0"], "bad_ip"),
    ])
    func endpointAddBadInputExitsOneWithTheCode(arguments: [String], code: String) async throws {
        guard built() else { return }
        try await withServer { server in
            let run = try await grapevine(["endpoint", "add", "--socket", server.socketPath] + arguments)
            #expect(run.status == 1)
            #expect(run.error.hasPrefix("error: "))
            #expect(run.error.hasSuffix("(\(code))\n"), "\(run.error)")
            #expect(await server.agent.stored.isEmpty)
        }
    }

    @Test func membersAsJSONIsTheAPIsJSON() async throws {
        guard built() else { return }
        try await withServer { server in
            let run = try await grapevine(["members", "--socket", server.socketPath, "--format", "json", "--tag", "role=web.*"])
            #expect(run.status == 0, "\(run.error)")
            let members = try JSONDecoder().decode([MemberView].self, from: Data(run.output.utf8))
            #expect(members.map(\.name) == ["alpha", "web-2"])
        }
    }

    @Test func membersAsATableIsAligned() async throws {
        guard built() else { return }
        try await withServer { server in
            let run = try await grapevine(["members", "--socket", server.socketPath])
            #expect(run.status == 0)
            #expect(run.output.split(separator: "\n") == [
                "NAME   ADDRESS         STATUS  TAGS",
                "alpha  10.0.0.1:7946   alive   dc=east,role=web",
                "beta   10.0.0.2:7946   failed  role=db",
                "web-2  [fd00::2]:7946  alive   role=web-canary",
            ])
        }
    }

    @Test func anAgentThatIsNotThereIsExitTwoNamingTheSocketAndWhy() async throws {
        guard built() else { return }
        try await withTemporaryDirectory { directory in
            let absent = directory + "/absent.sock"
            let missing = try await grapevine(["members", "--socket", absent])
            #expect(missing.status == 2)
            #expect(missing.error == "error: no agent listening on socket \(absent): No such file or directory\n")

            let stale = directory + "/stale.sock"
            try bindWithoutListening(stale)
            let refused = try await grapevine(["members", "--socket", stale])
            #expect(refused.status == 2)
            #expect(refused.error == "error: no agent listening on socket \(stale): Connection refused\n")
        }
    }

    @Test func fdbCheckExitsThreeWhenOutOfSyncAndZeroWhenInSync() async throws {
        guard built() else { return }
        try await withServer { server in
            let blue = try await grapevine(["fdb", "--socket", server.socketPath, "--check", "blue"])
            #expect(blue.status == 3)
            #expect(blue.output.contains("*  unicast  02:00:00:00:00:02"))
            let red = try await grapevine(["fdb", "--socket", server.socketPath, "--check", "red"])
            #expect(red.status == 0)
        }
    }

    @Test(arguments: [
        ["endpoint", "add", "--network", "blue"],
        ["keys", "--list", "--use", "a2V5"],
        ["members", "--tag", "role"],
        ["query", "--timeout", "soon", "uptime"],
        ["members", "--socket", "/a", "--address", "127.0.0.1:1"],
    ])
    func usageErrorsExitSixtyFour(arguments: [String]) async throws {
        guard built() else { return }
        let run = try await grapevine(arguments)
        #expect(run.status == 64, "\(run.error)")
    }

    @Test func keygenWritesAThirtyTwoByteKeyOwnerOnly() async throws {
        guard built() else { return }
        try await withTemporaryDirectory { directory in
            let path = directory + "/key"
            let run = try await grapevine(["keygen", "--output", path])
            #expect(run.status == 0)
            var info = stat()
            #expect(stat(path, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600)
            let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .newlines)
            #expect(Data(base64Encoded: text)?.count == 32)
            let again = try await grapevine(["keygen", "--output", path])
            #expect(again.status == 1)
            #expect(try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .newlines) == text)
        }
    }

    @Test func theLoopbackTCPListenerServesTheSameAPI() async throws {
        guard built() else { return }
        let port = try unusedLoopbackPort()
        try await withServer(tcpAddress: "127.0.0.1:\(port)") { server in
            let run = try await grapevine(["info", "--address", "127.0.0.1:\(port)", "--format", "json"])
            #expect(run.status == 0, "\(run.error)")
            #expect(try JSONDecoder().decode(InfoView.self, from: Data(run.output.utf8)).name == "alpha")
            // The socket serves too.
            let info = try await server.send(.GET, "/v1/info")
            #expect(info.status == 200)
        }
    }
}
