import GrapevineTestSupport
import Foundation

/// Everything a run makes: network namespaces named `gvbench<pid>-…`, processes, a scratch
/// directory. `tearDown` stops every process by PID and deletes every namespace, newest first;
/// it runs on return, on a thrown error and on SIGINT/SIGTERM.
final class Lab: @unchecked Sendable {
    let prefix = "gvbench\(getpid())"
    let directory: String
    private let lock = NSLock()
    private var namespaces: [String] = []
    private var processes: [Process] = []
    private var signalSources: [any DispatchSourceSignal] = []

    init() throws {
        directory = NSTemporaryDirectory() + "gvbench\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                print("agent-bench: signal \(sig), cleaning up")
                tearDown()
                exit(128 + sig)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    func path(_ name: String) -> String { directory + "/" + name }

    /// Adds `gvbench<pid>-<tag>` and returns its name.
    @discardableResult
    func addNamespace(_ tag: String) throws -> String {
        let name = "\(prefix)-\(tag)"
        try sh("ip", "netns", "add", name)
        lock.withLock { namespaces.append(name) }
        return name
    }

    /// Starts `arguments` with stdout and stderr going to the file `log` in the scratch directory.
    func start(_ arguments: [String], log: String) throws -> Process {
        let file = path(log)
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        let process = try launch(arguments, output: handle)
        lock.withLock { processes.append(process) }
        return process
    }

    /// Stops one process: SIGTERM, then SIGKILL if it is still there after 5 s.
    func stop(_ process: Process) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = now() + 5
        while process.isRunning && now() < deadline { pause(seconds: 0.02) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    func stopAll() {
        let running = lock.withLock { () -> [Process] in
            defer { processes.removeAll() }
            return processes
        }
        for process in running where process.isRunning { kill(process.processIdentifier, SIGTERM) }
        for process in running { stop(process) }
    }

    func tearDown() {
        stopAll()
        let names = lock.withLock { () -> [String] in
            defer { namespaces.removeAll() }
            return namespaces
        }
        for name in names.reversed() { _ = try? sh("ip", "netns", "del", name) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// N host namespaces on one switch: host i (1-based) is 10.77.0.i/24 on `eth0`.
struct Underlay {
    let lab: Lab
    let hosts: [String]

    init(lab: Lab, hosts count: Int) throws {
        self.lab = lab
        let switchNamespace = try lab.addNamespace("sw")
        try sh("ip", "-n", switchNamespace, "link", "add", "br0", "type", "bridge")
        try sh("ip", "-n", switchNamespace, "link", "set", "br0", "up")
        var hosts: [String] = []
        for i in 1...count {
            let ns = try lab.addNamespace("h\(i)")
            try sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", "p\(i)", "netns", switchNamespace)
            try sh("ip", "-n", switchNamespace, "link", "set", "p\(i)", "master", "br0", "up")
            try sh("ip", "-n", ns, "addr", "add", "\(Self.address(i))/24", "dev", "eth0")
            try sh("ip", "-n", ns, "link", "set", "eth0", "up")
            try sh("ip", "-n", ns, "link", "set", "lo", "up")
            hosts.append(ns)
        }
        self.hosts = hosts
    }

    static func address(_ host: Int) -> String { "10.77.0.\(host)" }
    func namespace(_ host: Int) -> String { hosts[host - 1] }
}
