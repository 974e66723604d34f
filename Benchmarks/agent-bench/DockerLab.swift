import GrapevineTestSupport
import Foundation

/// Everything `agent-bench docker` makes, and its removal: network namespaces `gvdb-<pid>-…`
/// (a switch and N hosts, host i at 10.79.0.i/24), one `grapevine agent --docker` per host, one
/// `dockerd` per host with the busybox image (the support target's `Dockerds`, the tests'
/// harness too), a scratch directory `/tmp/gvdb-<pid>`, and a hold on the shared plugin spec
/// file. `tearDown` kills the other processes, removes every container and stops every dockerd
/// (`Dockerds.tearDown`), then the agents, deletes the namespaces and the directory and gives up
/// the spec file; it runs on return, on a thrown error and on SIGINT/SIGTERM.
final class DockerLab: @unchecked Sendable {
    static let pluginPort = 9801
    static let image = Dockerds.image

    let prefix: String
    let directory: String
    let executable: String
    /// The agents' gossip port: Serf's 7946 unless the run needs it for something else (Swarm's
    /// own gossip binds 7946 on the same addresses).
    let gossipPort: Int
    private(set) var hosts: [String] = []
    let dockerds: Dockerds
    private let lock = NSLock()
    private var namespaces: [String] = []
    private var agents: [Int: Process] = [:]
    private var others: [Process] = []
    private var closed = false
    /// Signalled when a teardown is complete: a second caller (the signal handler's thread or the
    /// main thread) waits for it rather than returning, and so exiting, while the first still works.
    private let tornDown = DispatchSemaphore(value: 0)
    private var signalSources: [any DispatchSourceSignal] = []

    init(executable: String, gossipPort: Int = 7946) throws {
        self.executable = executable
        self.gossipPort = gossipPort
        let prefix = "gvdb-\(getpid())"
        self.prefix = prefix
        directory = "/tmp/\(prefix)"
        // Host i's namespace (buildUnderlay names them so).
        dockerds = Dockerds(directory: directory + "/docker") { "\(prefix)-h\($0)" }
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
    static func underlay(_ host: Int) -> String { "10.79.0.\(host)" }
    func namespace(_ host: Int) -> String { hosts[host - 1] }
    var count: Int { hosts.count }

    // MARK: Namespaces and processes

    private func addNamespace(_ tag: String) throws -> String {
        let name = "\(prefix)-\(tag)"
        try checkOpen()
        try sh("ip", "netns", "add", name)
        lock.withLock { namespaces.append(name) }
        return name
    }

    private func checkOpen() throws {
        if lock.withLock({ closed }) { throw BenchError("cleaning up") }
    }

    /// Keeps `process` for `tearDown`; kills it at once when the lab is already being torn down.
    func track(_ process: Process) throws {
        try register({ others.append(process) }, else: process)
    }

    /// Runs `record` under the lock unless the lab is being torn down; then kills `process`.
    private func register(_ record: () -> Void, else process: Process) throws {
        let late = lock.withLock { () -> Bool in
            if closed { return true }
            record()
            return false
        }
        if late {
            kill(process.processIdentifier, SIGKILL)
            throw BenchError("cleaning up")
        }
    }

    /// `count` host namespaces on one switch namespace; host i is 10.79.0.i/24 on `eth0`.
    func buildUnderlay(hosts count: Int) throws {
        let switchNamespace = try addNamespace("sw")
        try sh("ip", "-n", switchNamespace, "link", "add", "br0", "type", "bridge")
        try sh("ip", "-n", switchNamespace, "link", "set", "br0", "up")
        for i in 1...count {
            let ns = try addNamespace("h\(i)")
            try sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", "p\(i)", "netns", switchNamespace)
            try sh("ip", "-n", switchNamespace, "link", "set", "p\(i)", "master", "br0", "up")
            try sh("ip", "-n", ns, "addr", "add", "\(Self.underlay(i))/24", "dev", "eth0")
            try sh("ip", "-n", ns, "link", "set", "eth0", "up")
            try sh("ip", "-n", ns, "link", "set", "lo", "up")
            hosts.append(ns)
        }
    }

    private func startLogged(_ arguments: [String], log: String) throws -> Process {
        try checkOpen()
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        return try launch(arguments, output: handle)
    }

    // MARK: Agents

    var keyFile: String { path("grapevine.key") }
    func agentSocket(_ host: Int) -> String { path("h\(host).sock") }
    func agentLog(_ host: Int) -> String { path("grapevine-h\(host).log") }

    /// Starts host `host`'s agent serving the plugin on 127.0.0.1:9801 inside the host's
    /// namespace (where that host's dockerd finds it through the spec file) and waits until
    /// its API answers. `extra` arguments are appended (the names benchmark's DNS options).
    func startAgent(_ host: Int, extra: [String] = []) throws {
        if !FileManager.default.fileExists(atPath: keyFile) { try sh(executable, "keygen", "--output", keyFile) }
        var arguments = ["ip", "netns", "exec", namespace(host), executable, "agent",
                         "--name", "h\(host)", "--bind", "\(Self.underlay(host)):\(gossipPort)", "--key-file", keyFile,
                         "--data-dir", path("agent-h\(host)"), "--api-socket", agentSocket(host), "--log-level", "notice",
                         "--docker", "--docker-plugin-socket", "", "--docker-plugin-address", "127.0.0.1:\(Self.pluginPort)",
                         "--docker-socket", dockerSocket(host)]
        if host != 1 { arguments += ["--join", "\(Self.underlay(1)):\(gossipPort)"] }
        arguments += extra
        let process = try startLogged(arguments, log: agentLog(host))
        try register({ agents[host] = process }, else: process)
        try waitUntil("grapevine agent h\(host) answers", timeout: 60) {
            guard process.isRunning else { throw BenchError("grapevine agent h\(host) exited; log in \(agentLog(host))") }
            return (try? run([executable, "info", "--socket", agentSocket(host)])) != nil
        }
    }

    // MARK: dockerd

    func dockerSocket(_ host: Int) -> String { dockerds.socket(host) }

    /// Starts host `host`'s dockerd in its namespace and imports the busybox image
    /// (`Dockerds.start`). Returns the seconds until it answered.
    @discardableResult
    func startDocker(_ host: Int) throws -> Double {
        let answered = try dockerds.start(host).components
        return Double(answered.seconds) + Double(answered.attoseconds) / 1e18
    }

    /// `docker -H unix://… ARGS` against host `host`'s dockerd; stdout, or throws with stderr.
    /// Killed after `timeout` seconds.
    @discardableResult
    func docker(_ host: Int, _ arguments: [String], timeout: Double = 120) throws -> String {
        try dockerds.docker(host, arguments, timeout: timeout)
    }

    /// The versions of the tools, for the report.
    func versions() -> String {
        let server = (try? docker(1, ["version", "--format", "dockerd {{.Server.Version}}, API {{.Server.APIVersion}}, docker CLI {{.Client.Version}}"])) ?? "?"
        let containerd = (try? run(["containerd", "--version"]))?.split(separator: " ").dropFirst(2).first.map(String.init) ?? "?"
        let runc = (try? run(["runc", "--version"]))?.split(separator: "\n").first.map(String.init) ?? "runc ?"
        return server.trimmingCharacters(in: .whitespacesAndNewlines) + ", containerd \(containerd), " + runc
    }

    /// Holds the plugin spec file `tcp://127.0.0.1:9801` (shared with the tests and other
    /// processes, `DockerPluginSpec`) until `tearDown`.
    func holdPluginSpec() throws {
        try checkOpen()
        try dockerds.pluginSpec.hold(port: Self.pluginPort)
    }

    // MARK: Teardown

    /// Stops everything, newest kind first: pings, dockerds (containers first) and the spec
    /// file, agents; then the namespaces and the directory. Runs once; a caller arriving while
    /// it runs waits (up to 5 min) until it is done. What the dockerds leave is printed.
    func tearDown() {
        let snapshot = lock.withLock { () -> (running: [Process], agents: [Process])? in
            if closed { return nil }
            closed = true
            defer { others.removeAll(); agents.removeAll() }
            return (others, agents.keys.sorted().compactMap { agents[$0] })
        }
        guard let (running, agentList) = snapshot else {
            if tornDown.wait(timeout: .now() + 300) == .success { tornDown.signal() }
            return
        }
        defer { tornDown.signal() }
        for process in running where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for left in dockerds.tearDown() {
            FileHandle.standardError.write(Data("agent-bench: the Docker harness left \(left)\n".utf8))
        }
        for process in agentList where process.isRunning { kill(process.processIdentifier, SIGTERM) }
        for process in agentList {
            if (try? waitUntil("agent exits", timeout: 5, { !process.isRunning })) == nil {
                kill(process.processIdentifier, SIGKILL)
                try? waitUntil("agent exits after SIGKILL", timeout: 10) { !process.isRunning }
            }
        }
        for process in running { try? waitUntil("process exits", timeout: 5) { !process.isRunning } }
        let names = lock.withLock { () -> [String] in
            defer { namespaces.removeAll() }
            return namespaces
        }
        for name in names.reversed() { _ = try? sh("ip", "netns", "del", name) }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
