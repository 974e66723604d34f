import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GrapevineAPI
#if canImport(Glibc)
import Glibc
#endif

struct KeysCommand: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Install, use, remove or list the cluster's encryption keys on every member.",
        discussion: "Exits 1 when a member failed or did not answer.")

    @OptionGroup var options: ClientOptions
    @Option(help: ArgumentHelp("Add a key (base64 of 32 bytes) on every member.", valueName: "key")) var install: String?
    @Option(help: ArgumentHelp("Make an installed key the one every member encrypts with.", valueName: "key")) var use: String?
    @Option(help: ArgumentHelp("Remove a key that is not in use from every member.", valueName: "key")) var remove: String?
    @Flag(help: "List every key and how many members hold it.") var list = false

    private var request: KeyRequest? {
        let chosen = [("install", install), ("use", use), ("remove", remove)].compactMap { operation, key in
            key.map { KeyRequest(operation: operation, key: $0) }
        } + (list ? [KeyRequest(operation: "list")] : [])
        return chosen.count == 1 ? chosen[0] : nil
    }

    func validate() throws {
        if request == nil { throw ValidationError("give exactly one of --install, --use, --remove, --list") }
    }

    func call(_ api: APIClient) async throws {
        let answer = try await api.send(.post, "/v1/keys", body: request!)
        let view = try decodeAnswer(KeysView.self, answer, from: api)
        if options.format == .json {
            printJSON(answer)
        } else {
            print("\(view.responded) of \(view.members) members responded.")
            if !view.keys.isEmpty {
                Table(header: ["KEY", "MEMBERS"], rows: view.keys.sorted { $0.key < $1.key }.map { [$0.key, "\($0.value)/\(view.members)"] }).print()
            }
            for (member, error) in view.failures.sorted(by: { $0.key < $1.key }) { print("\(member): \(error)") }
        }
        guard view.complete else {
            throw ClientFailure.refused(AgentError(
                status: 500, code: "keys_incomplete",
                message: "\(view.failures.count) member(s) failed and \(view.members - view.responded) did not answer"))
        }
    }
}

struct KeygenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen", abstract: "Print a new encryption key (base64 of 32 random bytes); talks to no agent.")

    @Option(help: ArgumentHelp("Write the key to this new file (mode 0600) instead of printing it.", valueName: "file"))
    var output: String?

    func run() async throws {
        var generator = SystemRandomNumberGenerator()
        let key = Data((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }).base64EncodedString()
        guard let output else { return print(key) }
        do {
            try write(key + "\n", to: output)
        } catch let failure as ClientFailure {
            standardError(failure.description)
            throw ExitCode(failure.exitCode)
        }
    }

    /// Creates `path` with mode 0600 from the start (never readable by others, not even
    /// briefly) and refuses to overwrite an existing file.
    private func write(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ClientFailure.local("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            throw ClientFailure.local("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
