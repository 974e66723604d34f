import Foundation
import NIOHTTP1
import OverlayAgent
import ServiceLifecycle
import Testing

/// The control socket's file: its mode and group, its directory, a stale file from a dead
/// agent, and what is refused.
@Suite struct SocketTests {
    private func mode(_ path: String) -> (mode: mode_t, gid: gid_t)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (info.st_mode & 0o7777, info.st_gid)
    }

    @Test func withoutAGroupTheSocketIsOwnerOnlyAndItsDirectoryIsMade() async throws {
        try await withServer { server in
            #expect(mode(server.socketPath)?.mode == 0o600)
            #expect(mode(server.directory + "/run")?.mode == 0o755)
            // Bound in a private directory, then moved: nothing of that is left.
            #expect(try FileManager.default.contentsOfDirectory(atPath: server.directory + "/run") == ["grapevine.sock"])
            let info = try await server.send(.GET, "/v1/info")
            #expect(info.status == 200)
        }
    }

    /// A group other than ours, so the chown is visible.
    private static let otherGroup: (name: String, gid: gid_t)? = {
        for name in ["daemon", "bin", "sys", "adm", "nogroup"] {
            if let entry = getgrnam(name), entry.pointee.gr_gid != getegid() { return (name, entry.pointee.gr_gid) }
        }
        return nil
    }()

    @Test func withAGroupTheSocketIsGroupReadableAndOwnedByIt() async throws {
        let group = try #require(Self.otherGroup, "no group other than our own on this host")
        try await withServer(socketGroup: group.name) { server in
            let found = mode(server.socketPath)
            #expect(found?.mode == 0o660)
            #expect(found?.gid == group.gid)
        }
    }

    @Test func theSocketIsRemovedAtStop() async throws {
        var path = ""
        try await withServer { server in path = server.socketPath }
        #expect(mode(path) == nil)
    }

    @Test func aStaleSocketIsReplaced() async throws {
        try await withServer(prepare: { path in
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try bindWithoutListening(path)
        }) { server in
            let info = try await server.send(.GET, "/v1/info")
            #expect(info.status == 200)
        }
    }

    @Test func aSocketSomeoneAnswersOnIsRefused() async throws {
        try await withServer { running in
            let second = ControlServer(
                control: running.agent, socketPath: running.socketPath, socketGroup: nil, tcpAddress: nil, logger: quietLogger)
            await #expect(throws: ControlServerError.socketInUse(running.socketPath)) { try await second.run() }
            // The first server still serves on it.
            let info = try await running.send(.GET, "/v1/info")
            #expect(info.status == 200)
        }
    }

    @Test func aFileThatIsNotASocketIsLeftAlone() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/grapevine.sock"
            try Data("keep me".utf8).write(to: URL(fileURLWithPath: path))
            let server = ControlServer(control: FakeAgent(), socketPath: path, socketGroup: nil, tcpAddress: nil, logger: quietLogger)
            await #expect(throws: ControlServerError.notASocket(path)) { try await server.run() }
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
        }
    }

    @Test(arguments: [
        ("0.0.0.0:7373", ControlServerError.notLoopback("0.0.0.0:7373")),
        ("10.0.0.1:7373", .notLoopback("10.0.0.1:7373")),
        ("[::]:7373", .notLoopback("[::]:7373")),
        ("example.com:7373", .badAddress("example.com:7373")),
        ("127.0.0.1:70000", .badAddress("127.0.0.1:70000")),
        ("127.0.0.1", .badAddress("127.0.0.1")),
    ])
    func aTCPAddressThatIsNotLoopbackIsRefused(address: String, error: ControlServerError) async throws {
        let server = ControlServer(control: FakeAgent(), socketPath: nil, socketGroup: nil, tcpAddress: address, logger: quietLogger)
        await #expect(throws: error) { try await server.run() }
    }

    @Test func anUnknownGroupIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let server = ControlServer(
                control: FakeAgent(), socketPath: directory + "/s.sock", socketGroup: "no-such-group-gv", tcpAddress: nil,
                logger: quietLogger)
            await #expect(throws: ControlServerError.unknownGroup("no-such-group-gv")) { try await server.run() }
        }
    }
}

/// Leaves a socket file at `path` with nobody listening, as an agent killed with SIGKILL does.
func bindWithoutListening(_ path: String) throws {
    close(try boundUnixSocket(path))
}

/// A stream socket bound to `path` (not listening); the caller closes the returned fd.
func boundUnixSocket(_ path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    guard path.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else {
        close(fd)
        throw POSIXError(.ENAMETOOLONG)
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
    }
    let status = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard status == 0 else {
        let error = errno
        close(fd)
        throw POSIXError(POSIXErrorCode(rawValue: error) ?? .EIO)
    }
    return fd
}
