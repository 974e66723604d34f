import Foundation
import LocalHTTP
import NIOCore
import OverlayAgent
import Testing

/// The client's failures: each says which endpoint and what went wrong, without retrying.
@Suite struct LocalHTTPClientTests {
    @Test func aMissingSocketAndAStaleOneAreNotListeningWithTheirReasons() async throws {
        try await withTemporaryDirectory { directory in
            let absent = directory + "/absent.sock"
            let missing = await failure(LocalHTTPClient(.unix(absent)), deadline: .now() + .seconds(60))
            #expect(missing == .notListening(.unix(absent), reason: "No such file or directory"))

            let stale = directory + "/stale.sock"
            try bindWithoutListening(stale)
            let refused = await failure(LocalHTTPClient(.unix(stale)), deadline: .now() + .seconds(60))
            #expect(refused == .notListening(.unix(stale), reason: "Connection refused"))
        }
    }

    /// A listener that accepts (the kernel's backlog) but never answers: the deadline ends
    /// the exchange as a timeout, not as a cut-off connection.
    @Test func aListenerThatNeverAnswersTimesOut() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/silent.sock"
            let fd = try listenWithoutAccepting(path)
            defer { close(fd) }
            let outcome = await failure(LocalHTTPClient(.unix(path)), deadline: .now() + .milliseconds(200))
            guard case .timedOut(let endpoint, _) = outcome else {
                Issue.record("expected a timeout, got \(String(describing: outcome))")
                return
            }
            #expect(endpoint == .unix(path))
        }
    }

    @Test func anAnswerOverTheLimitAndARequestOverTheLimitAreRefused() async throws {
        try await withServer { server in
            let members = try await server.send(.GET, "/v1/members")
            #expect(members.status == 200)
            let limit = members.body.utf8.count - 1
            await #expect(throws: LocalHTTPError.tooLarge(.unix(server.socketPath), limit: limit)) {
                _ = try await server.client.send(LocalHTTPClient.Request(.GET, "/v1/members"), deadline: .now() + .seconds(60), limit: limit)
            }
            let small = LocalHTTPClient(.unix(server.socketPath), maxRequestBytes: 4)
            await #expect(throws: LocalHTTPError.tooLarge(.unix(server.socketPath), limit: 4)) {
                _ = try await small.send(
                    LocalHTTPClient.Request(.POST, "/v1/join", body: ByteBuffer(string: #"{"seeds": []}"#)),
                    deadline: .now() + .seconds(60), limit: 1 << 20)
            }
        }
    }

    @Test func percentEncodingKeepsOnlyUnreservedBytes() {
        #expect(percentEncoded("a-b._~Z9") == "a-b._~Z9")
        #expect(percentEncoded(#"role=web.*&x+y/z {"é"}"#) == "role%3Dweb.%2A%26x%2By%2Fz%20%7B%22%C3%A9%22%7D")
        #expect(percentDecoded(percentEncoded(#"role=web.*&x+y/z {"é"}"#)) == #"role=web.*&x+y/z {"é"}"#)
        #expect(percentDecoded("a%2") == nil && percentDecoded("%zz") == nil && percentDecoded("%FF") == nil)
    }

    private func failure(_ client: LocalHTTPClient, deadline: NIODeadline) async -> LocalHTTPError? {
        do {
            _ = try await client.send(LocalHTTPClient.Request(.GET, "/v1/info"), deadline: deadline, limit: 1 << 20)
            return nil
        } catch {
            return error
        }
    }
}

/// A socket at `path` that listens but never accepts; the caller closes the returned fd.
func listenWithoutAccepting(_ path: String) throws -> Int32 {
    let fd = try boundUnixSocket(path)
    guard listen(fd, 8) == 0 else {
        let error = errno
        close(fd)
        throw POSIXError(POSIXErrorCode(rawValue: error) ?? .EIO)
    }
    return fd
}
