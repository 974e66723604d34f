import Foundation
import Synchronization

/// One holder's share of `/etc/docker/plugins/grapevine.spec` = `tcp://127.0.0.1:PORT`, the one
/// path where every dockerd looks for the plugin (each resolves it in its own namespace, so each
/// reaches the agent of its host). Holders in this process share one count; holders in other
/// processes (other worktrees' tests, `agent-bench docker`) share a flock, and whoever can turn
/// it into an exclusive one on the way out is the last user on the machine and removes the file
/// and the directories the holders made (if empty).
public final class DockerPluginSpec: @unchecked Sendable {
    public static let specFile = "/etc/docker/plugins/grapevine.spec"
    /// Each process holds a shared flock on it while it needs the spec file.
    public static let specLockFile = "/run/lock/grapevine-test-docker-spec.lock"
    /// The directories the holders made for the spec file, for the last user to remove.
    private static let specMadeDirectories = "/run/lock/grapevine-test-docker-spec.dirs"

    private struct Shared {
        var holders = 0
        var port = 0
        var lock: Int32 = -1
    }

    /// Shared by every holder of the process: the file is one path for all dockerds.
    private static let shared = Mutex(Shared())
    private let holding = Mutex(false)

    public init() {}

    /// Holds the spec file for `port` until `release` (a second call is a no-op), writing it when
    /// absent. Throws when the file, or this process's other holders, name another port.
    public func hold(port: Int) throws {
        try holding.withLock { held in
            if held { return }
            try Self.shared.withLock { state in
                let content = "tcp://127.0.0.1:\(port)"
                if state.holders == 0 {
                    state.lock = try Self.lockAndWrite(content)
                    state.port = port
                } else if state.port != port {
                    throw DockerHarnessError("\(Self.specFile) is in use for port \(state.port)")
                }
                state.holders += 1
            }
            held = true
        }
    }

    /// Gives up this hold (the last holder on the machine removes the file).
    public func release() {
        holding.withLock { held in
            guard held else { return }
            held = false
            Self.shared.withLock { state in
                state.holders -= 1
                guard state.holders == 0 else { return }
                if flock(state.lock, LOCK_EX | LOCK_NB) == 0 {
                    try? FileManager.default.removeItem(atPath: Self.specFile)
                    let made = (try? String(contentsOfFile: Self.specMadeDirectories, encoding: .utf8)) ?? ""
                    for dir in Set(made.split(separator: "\n")).sorted(by: { $0.count > $1.count }) { rmdir(String(dir)) }
                    try? FileManager.default.removeItem(atPath: Self.specMadeDirectories)
                }
                close(state.lock)
                state = Shared()
            }
        }
    }

    /// Whether some process holds the spec file now (this one included).
    public static func isHeld() -> Bool {
        let fd = open(specLockFile, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) != 0
    }

    /// Takes the shared flock, makes the directories (recording them) and the file, or checks
    /// that the file there says `content`; returns the locked descriptor.
    private static func lockAndWrite(_ content: String) throws -> Int32 {
        let fd = open(specLockFile, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DockerHarnessError("cannot open \(specLockFile): errno \(errno)") }
        guard flock(fd, LOCK_SH) == 0 else {
            close(fd)
            throw DockerHarnessError("cannot lock \(specLockFile): errno \(errno)")
        }
        do {
            let fm = FileManager.default
            for dir in ["/etc/docker", "/etc/docker/plugins"] where !fm.fileExists(atPath: dir) {
                try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
                if !fm.fileExists(atPath: specMadeDirectories) { _ = fm.createFile(atPath: specMadeDirectories, contents: nil) }
                let record = try FileHandle(forWritingTo: URL(fileURLWithPath: specMadeDirectories))
                record.seekToEndOfFile()
                record.write(Data((dir + "\n").utf8))
                try record.close()
            }
            if let existing = try? String(contentsOfFile: specFile, encoding: .utf8) {
                guard existing.trimmingCharacters(in: .whitespacesAndNewlines) == content else {
                    throw DockerHarnessError("\(specFile) already says \(existing)")
                }
            } else {
                try (content + "\n").write(toFile: specFile, atomically: true, encoding: .utf8)
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }
}
