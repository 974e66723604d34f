import CNetlink
import Glibc

/// An error from libnl or the kernel, with the operation that failed.
///
/// `code` keeps the sign convention of where it came from: libnl codes are negative `NLE_*`
/// values, kernel acknowledgements carry a negative errno. `source` says which, so that a caller
/// can test for, say, `ENOENT` without knowing libnl's numbering.
public struct NetlinkError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Source: Sendable, Equatable {
        /// A libnl call returned a negative `NLE_*` code.
        case libnl
        /// The kernel (or a system call) reported `-errno`.
        case kernel
    }

    public var operation: String
    public var code: Int32
    public var message: String
    public var source: Source

    public init(operation: String, code: Int32, message: String, source: Source = .kernel) {
        self.operation = operation
        self.code = code
        self.message = message
        self.source = source
    }

    public var description: String { "\(operation): \(message) (\(code))" }

    /// The positive errno, when the error came from the kernel or a system call.
    public var errno: Int32? { source == .kernel ? -code : nil }

    /// True when notifications or acknowledgements were dropped by an overflowing socket, which
    /// means that the caller no longer knows the kernel state and must dump it again.
    public var meansStateLost: Bool {
        switch source {
        case .kernel: return code == -ENOBUFS
        case .libnl: return code == -NLE_NOMEM
        }
    }

    /// Maps a negative libnl return value to an error carrying libnl's own text.
    static func libnl(_ operation: String, _ code: Int32) -> NetlinkError {
        let negative = code > 0 ? -code : code
        return NetlinkError(
            operation: operation, code: negative,
            message: String(cString: nl_geterror(negative)), source: .libnl)
    }

    /// Maps an errno (positive, as from `Glibc.errno`, or negative, as in a netlink ack).
    static func system(_ operation: String, errno value: Int32, detail: String? = nil) -> NetlinkError {
        let positive = value < 0 ? -value : value
        var text = String(cString: strerror(positive))
        if let detail, !detail.isEmpty { text += ": " + detail }
        return NetlinkError(operation: operation, code: -positive, message: text, source: .kernel)
    }

    /// The error for a failed system call, read from the thread's errno.
    static func lastSystemError(_ operation: String) -> NetlinkError {
        system(operation, errno: Glibc.errno)
    }

    /// Invalid input caught before anything reached the kernel.
    static func invalid(_ operation: String, _ message: String) -> NetlinkError {
        NetlinkError(operation: operation, code: -EINVAL, message: message, source: .kernel)
    }
}

/// Throws the mapped libnl error when `code` is negative; returns it otherwise.
@discardableResult
func libnlCheck(_ operation: @autoclosure () -> String, _ code: Int32) throws(NetlinkError) -> Int32 {
    if code < 0 { throw NetlinkError.libnl(operation(), code) }
    return code
}
