#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The file system side of the control socket: its directory, a stale file left by an agent
/// that died, its owner group and mode.
enum ControlSocket {
    /// `sun_path` holds 108 bytes with the terminating NUL.
    static let maxPathBytes = 107

    /// Makes `path` ready to be the socket: creates its directory (0755) when missing, and removes a
    /// socket file nobody answers on. Refuses a path that is too long, a file that is not a
    /// socket, and a socket with a live listener.
    static func prepare(path: String) throws(ControlServerError) {
        guard path.utf8.count <= maxPathBytes else { throw .pathTooLong(path) }
        let directory = parentDirectory(of: path)
        if !directory.isEmpty { try makeDirectories(directory) }
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw systemError("stat", path)
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path) }
        guard !answers(path) else { throw .socketInUse(path) }
        guard unlink(path) == 0 || errno == ENOENT else { throw systemError("remove stale socket", path) }
    }

    /// A new directory beside `path` that only the owner may enter (mkdtemp: 0700). The server
    /// binds in it, sets the socket's mode and group, then renames the socket to `path`: there
    /// is no moment at which others can connect to a socket with the wrong mode.
    static func makeStagingDirectory(beside path: String) throws(ControlServerError) -> String {
        let parent = parentDirectory(of: path)
        var template = Array(((parent.isEmpty ? "." : parent) + "/.grapevine-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw systemError("create staging directory in", parent) }
        let staging = String(cString: made)
        guard (staging + "/s").utf8.count <= maxPathBytes else {
            rmdir(staging)
            throw .pathTooLong(path)
        }
        return staging
    }

    /// The path to bind in `staging`.
    static func stagedSocket(in staging: String) -> String { staging + "/s" }

    /// Sets the staged socket's mode and group, moves it to `path` and removes `staging`.
    static func publish(staging: String, at path: String, group gid: gid_t?) throws(ControlServerError) {
        let staged = stagedSocket(in: staging)
        try restrict(path: staged, group: gid)
        guard rename(staged, path) == 0 else { throw systemError("move socket to", path) }
        rmdir(staging)
    }

    /// Removes what is left of `staging` (the server stopped before publishing).
    static func removeStaging(_ staging: String) {
        unlink(stagedSocket(in: staging))
        rmdir(staging)
    }

    /// Mode 0660 and group `gid` when given, else 0600 (owner only).
    static func restrict(path: String, group gid: gid_t?) throws(ControlServerError) {
        if let gid {
            guard chown(path, uid_t.max, gid) == 0 else { throw systemError("chown", path) }
        }
        guard chmod(path, gid == nil ? 0o600 : 0o660) == 0 else { throw systemError("chmod", path) }
    }

    /// The group id of `name`.
    static func groupID(named name: String) throws(ControlServerError) -> gid_t {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        let status = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
        guard status == 0 else { throw .system(operation: "look up group", path: name, reason: String(cString: strerror(status))) }
        guard result != nil else { throw .unknownGroup(name) }
        return entry.gr_gid
    }

    /// Removes the socket file at stop, if it is still a socket.
    static func remove(path: String) {
        var info = stat()
        if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK { unlink(path) }
    }

    /// Whether a process accepts connections on the socket at `path`.
    static func answers(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(maxPathBytes).enumerated() { raw[index] = byte }
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return status == 0
    }

    private static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[..<slash])
    }

    /// `mkdir -p` with mode 0755 for the directories it creates.
    private static func makeDirectories(_ directory: String) throws(ControlServerError) {
        var info = stat()
        if stat(directory, &info) == 0 { return }
        let parent = parentDirectory(of: directory)
        if !parent.isEmpty { try makeDirectories(parent) }
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST else { throw systemError("create directory", directory) }
        // mkdir's mode is filtered by the umask; the directory must be searchable by the group.
        guard chmod(directory, 0o755) == 0 else { throw systemError("chmod", directory) }
    }

    private static func systemError(_ operation: String, _ path: String) -> ControlServerError {
        .system(operation: operation, path: path, reason: String(cString: strerror(errno)))
    }
}
