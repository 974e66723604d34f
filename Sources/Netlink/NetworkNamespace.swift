import Glibc

/// Where a socket is created. A netlink socket stays bound to the network namespace it was
/// created in, so every socket of this module takes one and nothing else needs to know.
public enum NetworkNamespace: Sendable, Hashable, CustomStringConvertible {
    /// The namespace of the calling process.
    case current
    /// A namespace made by `ip netns add NAME` (a bind mount under /var/run/netns).
    case named(String)

    public var description: String {
        switch self {
        case .current: return "current namespace"
        case .named(let name): return "netns \(name)"
        }
    }

    /// Runs `body` with the calling thread's view of the network set to this namespace.
    ///
    /// The work happens on a short-lived thread that enters the namespace and then exits, so the
    /// caller's thread (often one of Swift concurrency's shared pool) is never left in another
    /// namespace, not even when the body throws.
    func run<T>(_ operation: String, _ body: () throws(NetlinkError) -> T) throws(NetlinkError) -> T {
        guard case .named(let name) = self else { return try body() }
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw NetlinkError.invalid(operation, "bad namespace name '\(name)'")
        }
        let fd = open("/var/run/netns/" + name, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NetlinkError.lastSystemError("\(operation): open netns \(name)") }
        defer { close(fd) }
        return try withoutActuallyEscaping(body) { escapable throws(NetlinkError) -> T in
            let job = NamespaceJob(fd: fd) { () -> Result<T, NetlinkError> in
                do throws(NetlinkError) { return .success(try escapable()) } catch { return .failure(error) }
            }
            try job.runOnThread(operation: "\(operation) in netns \(name)")
            guard let outcome = job.outcome else {
                throw NetlinkError.invalid(operation, "namespace thread produced no result")
            }
            return try outcome.get()
        }
    }
}

/// setns(2) is hidden behind _GNU_SOURCE in the Glibc module, so it is looked up at run time.
private typealias SetnsFunction = @convention(c) (Int32, Int32) -> Int32
private let cloneNewNet: Int32 = 0x4000_0000

private func lookUpSetns() -> SetnsFunction? {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setns") else { return nil }
    return unsafeBitCast(symbol, to: SetnsFunction.self)
}

/// The state shared with the namespace thread. The caller joins the thread before reading
/// `outcome`, which is the synchronisation that makes the unchecked sendability sound.
private final class NamespaceJob<T>: @unchecked Sendable {
    let fd: Int32
    let work: () -> Result<T, NetlinkError>
    var outcome: Result<T, NetlinkError>?

    init(fd: Int32, work: @escaping () -> Result<T, NetlinkError>) {
        self.fd = fd
        self.work = work
    }

    func enterAndRun() {
        guard let setns = lookUpSetns() else {
            outcome = .failure(.invalid("setns", "setns is not available in this C library"))
            return
        }
        guard setns(fd, cloneNewNet) == 0 else {
            outcome = .failure(.lastSystemError("setns"))
            return
        }
        outcome = work()
    }

    func runOnThread(operation: String) throws(NetlinkError) {
        let box = Unmanaged.passRetained(self as AnyObject)
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let object = Unmanaged<AnyObject>.fromOpaque(raw).takeRetainedValue()
            (object as? any NamespaceRunnable)?.enterAndRun()
            return nil
        }, box.toOpaque())
        guard rc == 0 else {
            box.release()
            throw NetlinkError.system(operation + ": pthread_create", errno: rc)
        }
        pthread_join(thread, nil)
    }
}

private protocol NamespaceRunnable: AnyObject { func enterAndRun() }
extension NamespaceJob: NamespaceRunnable {}
