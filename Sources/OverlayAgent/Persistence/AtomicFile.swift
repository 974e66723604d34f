#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// Replaces a file's contents so that a crash at any moment leaves either the old file or the
/// new one, never a torn one: the bytes go to a temporary file in the same directory, which is
/// flushed (`fsync`) and renamed over the old one (POSIX `rename(2)` replaces atomically), and
/// the directory is flushed so the rename itself survives a crash.
enum AtomicFile {
    /// - Throws: `StoreError` naming the step and `strerror`; the old file is then unchanged.
    static func write(_ data: Data, to path: String, mode: mode_t = 0o600) throws(StoreError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw StoreError("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let ok = writeAll(data, to: fd) && fsync(fd) == 0
        let error = errno
        close(fd)
        guard ok else {
            unlink(temporary)
            throw StoreError("cannot write \(temporary): \(String(cString: strerror(error)))")
        }
        guard rename(temporary, path) == 0 else {
            let e = errno
            unlink(temporary)
            throw StoreError("cannot replace \(path): \(String(cString: strerror(e)))")
        }
        syncDirectory(of: path)
    }
}

extension AtomicFile {
    /// Appends `data` to the file at `path` (made if missing) and flushes it (`fdatasync`)
    /// before returning. On failure the file is cut back to `length`, its length before.
    /// - Throws: `StoreError` naming the step and `strerror`.
    static func append(_ data: Data, to path: String, truncatingTo length: Int, mode: mode_t = 0o600) throws(StoreError) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode)
        guard fd >= 0 else { throw StoreError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let ok = writeAll(data, to: fd) && fdatasync(fd) == 0
        guard ok else {
            let error = errno
            _ = ftruncate(fd, off_t(length))
            throw StoreError("cannot append to \(path): \(String(cString: strerror(error)))")
        }
        if length == 0 { syncDirectory(of: path) }
    }

    /// Empties the file at `path` (made if missing), durably.
    /// - Throws: `StoreError` naming the step and `strerror`.
    static func empty(_ path: String, mode: mode_t = 0o600) throws(StoreError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw StoreError("cannot empty \(path): \(String(cString: strerror(errno)))") }
        let ok = fsync(fd) == 0
        let error = errno
        close(fd)
        guard ok else { throw StoreError("cannot empty \(path): \(String(cString: strerror(error)))") }
        syncDirectory(of: path)
    }

    /// Flushes the directory holding `path`, so that a file made or renamed there survives a crash.
    static func syncDirectory(of path: String) {
        let directory = open(directoryName(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }
}

/// Writes all of `data` to `fd`, retrying short and interrupted writes; false (with `errno`
/// set) when a write fails.
private func writeAll(_ data: Data, to fd: Int32) -> Bool {
    data.withUnsafeBytes { raw -> Bool in
        var written = 0
        while written < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            written += n
        }
        return true
    }
}

/// The directory part of `path` (`.` for a bare name, `/` for a file in the root), as
/// `dirname(3)` without its in-place edit.
private func directoryName(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

extension AtomicFile {
    /// The whole file at `path`; nil when there is none.
    /// - Throws: `StoreError` "cannot read PATH: " and `strerror` for any other failure.
    static func read(_ path: String) throws(StoreError) -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw StoreError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return data }
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            data.append(contentsOf: chunk[0..<n])
        }
    }

    /// The file at `path` as UTF-8 text; nil when there is none.
    /// - Throws: `StoreError` when it cannot be read or is not UTF-8.
    static func readText(_ path: String) throws(StoreError) -> String? {
        guard let data = try read(path) else { return nil }
        guard let text = String(validating: data, as: UTF8.self) else { throw StoreError("\(path) is not UTF-8 text") }
        return text
    }
}

extension StringProtocol {
    /// Without the white space and newlines at either end.
    var trimmed: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

struct StoreError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
