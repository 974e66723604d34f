#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The node's files (the snapshot, the keyring): read whole and bounded, replaced atomically
/// (temporary file, fsync, rename), so a crash leaves the old or the new file, never half.
/// Blocking calls: the runtime runs them on NIO's thread pool, never on its event loop.
enum StoredFile {
    /// The file's bytes, at most `limit`; nil when there is no file.
    static func contents(of path: String, limit: Int) throws(StoredFileError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw StoredFileError(path: path, operation: "open", errno: errno)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while bytes.count < limit {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StoredFileError(path: path, operation: "read", errno: errno)
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<min(n, limit - bytes.count)])
        }
        return bytes
    }

    /// Replaces the file with `bytes`, readable by its owner only (a keyring is a secret).
    static func replace(_ path: String, with bytes: [UInt8]) throws(StoredFileError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if fd < 0 { throw StoredFileError(path: temporary, operation: "open", errno: errno) }
        var rest = bytes[...]
        while !rest.isEmpty {
            let n = rest.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let e = errno
                close(fd)
                throw StoredFileError(path: temporary, operation: "write", errno: e)
            }
            rest = rest.dropFirst(n)
        }
        // Without the fsync a power loss after the rename could leave an empty file.
        if fsync(fd) != 0 {
            let e = errno
            close(fd)
            throw StoredFileError(path: temporary, operation: "fsync", errno: e)
        }
        close(fd)
        if rename(temporary, path) != 0 { throw StoredFileError(path: path, operation: "rename", errno: errno) }
    }

    /// Throws unless a file can be written at `path`: creates its temporary file and removes it
    /// again, leaving the file itself alone. Checked at start, so that a node whose snapshot
    /// or keyring could never be kept refuses to run instead of forgetting on its next restart.
    static func checkWritable(_ path: String) throws(StoredFileError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if fd < 0 { throw StoredFileError(path: temporary, operation: "create", errno: errno) }
        close(fd)
        unlink(temporary)
    }
}

/// A file operation that failed, with the system's reason (`errno` 0: the content is wrong).
struct StoredFileError: Error, CustomStringConvertible {
    var path: String
    var operation: String
    var errno: Int32
    var detail = ""
    var description: String {
        errno == 0 ? "\(operation) \(path): \(detail)" : "\(operation) \(path): \(String(cString: strerror(errno)))"
    }
}
