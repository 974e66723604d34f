import GrapevineTestSupport
import Foundation

/// Everything `agent-bench docker` makes, and its removal: network namespaces `gvdb-<pid>-…`
/// (a switch and N hosts, host i at 10.79.0.i/24), one `grapevine agent --docker` and one
/// `dockerd` per host, the busybox image, a scratch directory `/tmp/gvdb-<pid>`, and a hold on
/// the shared plugin spec file. `tearDown` removes every container, stops every dockerd (by PID,
/// judged by /proc, see Docs/DOCKER-TESTING.md), then the agents and other processes, deletes the
/// namespaces and the directory and gives up the spec file; it runs on return, on a thrown error
/// and on SIGINT/SIGTERM.
///
/// The dockerd recipe and the spec-file protocol are those of Tests/AgentEndToEndTests/DockerHosts.swift
/// (this target cannot import test code), cut down to what a benchmark needs.
final class DockerLab: @unchecked Sendable {
    static let pluginPort = 9801
    static let image = "gvdb/busybox:latest"
    static let applets = ["sh", "ping", "sleep", "true"]
    static let specFile = "/etc/docker/plugins/grapevine.spec"
    static let specLockFile = "/run/lock/grapevine-test-docker-spec.lock"
    static let specMadeDirectories = "/run/lock/grapevine-test-docker-spec.dirs"

    let prefix = "gvdb-\(getpid())"
    let directory: String
    let executable: String
    private(set) var hosts: [String] = []
    private let lock = NSLock()
    private var namespaces: [String] = []
    private var agents: [Int: Process] = [:]
    private var dockerds: [Int: Process] = [:]
    private var started: Set<Int> = []
    private var others: [Process] = []
    private var closed = false
    private var specLock: Int32 = -1
    /// Signalled when a teardown is complete: a second caller (the signal handler's thread or the
    /// main thread) waits for it rather than returning, and so exiting, while the first still works.
    private let tornDown = DispatchSemaphore(value: 0)
    private var signalSources: [any DispatchSourceSignal] = []

    init(executable: String) throws {
        self.executable = executable
        directory = "/tmp/gvdb-\(getpid())"
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
    /// its API answers.
    func startAgent(_ host: Int) throws {
        if !FileManager.default.fileExists(atPath: keyFile) { try sh(executable, "keygen", "--output", keyFile) }
        var arguments = ["ip", "netns", "exec", namespace(host), executable, "agent",
                         "--name", "h\(host)", "--bind", "\(Self.underlay(host)):7946", "--key-file", keyFile,
                         "--data-dir", path("agent-h\(host)"), "--api-socket", agentSocket(host), "--log-level", "notice",
                         "--docker", "--docker-plugin-socket", "", "--docker-plugin-address", "127.0.0.1:\(Self.pluginPort)",
                         "--docker-socket", dockerSocket(host)]
        if host != 1 { arguments += ["--join", "\(Self.underlay(1)):7946"] }
        let process = try startLogged(arguments, log: agentLog(host))
        try register({ agents[host] = process }, else: process)
        try waitUntil("grapevine agent h\(host) answers", timeout: 60) {
            guard process.isRunning else { throw BenchError("grapevine agent h\(host) exited; log in \(agentLog(host))") }
            return (try? run([executable, "info", "--socket", agentSocket(host)])) != nil
        }
    }

    // MARK: dockerd

    func dockerDirectory(_ host: Int) -> String { path("docker-h\(host)") }
    func dockerSocket(_ host: Int) -> String { dockerDirectory(host) + "/docker.sock" }
    func dockerLog(_ host: Int) -> String { dockerDirectory(host) + "/dockerd.log" }
    private func execRoot(_ host: Int) -> String { dockerDirectory(host) + "/exec" }

    /// Starts host `host`'s dockerd in its namespace (`nsenter --net`, own config file, data
    /// and exec roots, socket and pidfile, no bridge, no iptables, vfs), waits until it answers
    /// and imports the busybox image. Returns the seconds until it answered.
    @discardableResult
    func startDocker(_ host: Int) throws -> Double {
        let dir = dockerDirectory(host)
        let fm = FileManager.default
        for sub in ["data", "exec"] { try fm.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true) }
        let config = ["deprecated-key-path": dir + "/key.json"]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/daemon.json"))
        let begin = now()
        let process = try startLogged(["nsenter", "--net=/var/run/netns/\(namespace(host))", "dockerd",
                                       "--config-file", dir + "/daemon.json", "--data-root", dir + "/data",
                                       "--exec-root", execRoot(host), "-H", "unix://\(dockerSocket(host))",
                                       "--pidfile", dir + "/docker.pid", "--iptables=false", "--ip6tables=false",
                                       "--bridge=none", "--storage-driver=vfs"], log: dockerLog(host))
        try register({
            dockerds[host] = process
            started.insert(host)
        }, else: process)
        try waitUntil("dockerd h\(host) answers", timeout: 60) {
            guard !Self.hasExited(process.processIdentifier) else { throw BenchError("dockerd h\(host) exited; log in \(dockerLog(host))") }
            return (try? docker(host, ["version", "--format", "{{.Server.Version}}"], timeout: 10)) != nil
        }
        let answered = now() - begin
        try makeRootfsTar()
        try docker(host, ["import", path("busybox.tar"), Self.image])
        return answered
    }

    /// `docker -H unix://… ARGS` against host `host`'s dockerd; stdout, or throws with stderr.
    /// Killed after `timeout` seconds.
    @discardableResult
    func docker(_ host: Int, _ arguments: [String], timeout: Double = 120) throws -> String {
        try run(["docker", "-H", "unix://\(dockerSocket(host))"] + arguments, timeout: timeout)
    }

    /// The versions of the tools, for the report.
    func versions() -> String {
        let server = (try? docker(1, ["version", "--format", "dockerd {{.Server.Version}}, API {{.Server.APIVersion}}, docker CLI {{.Client.Version}}"])) ?? "?"
        let containerd = (try? run(["containerd", "--version"]))?.split(separator: " ").dropFirst(2).first.map(String.init) ?? "?"
        let runc = (try? run(["runc", "--version"]))?.split(separator: "\n").first.map(String.init) ?? "runc ?"
        return server.trimmingCharacters(in: .whitespacesAndNewlines) + ", containerd \(containerd), " + runc
    }

    private func makeRootfsTar() throws {
        let tar = path("busybox.tar")
        let fm = FileManager.default
        if fm.fileExists(atPath: tar) { return }
        guard let busybox = ["/usr/bin/busybox", "/bin/busybox"].first(where: { fm.isExecutableFile(atPath: $0) }) else {
            throw BenchError("no busybox (scripts/setup.sh installs busybox-static)")
        }
        let bin = path("rootfs/bin")
        try fm.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try fm.copyItem(atPath: busybox, toPath: bin + "/busybox")
        for applet in Self.applets { try fm.createSymbolicLink(atPath: bin + "/" + applet, withDestinationPath: "busybox") }
        try sh("tar", "-C", path("rootfs"), "-cf", tar, ".")
        try fm.removeItem(atPath: path("rootfs"))
    }

    /// Removes every container of host `host` (so that no stop timeout is spent on them), stops
    /// its dockerd with SIGTERM (SIGKILL after 30 s), removes what it left and its directory.
    private func stopDocker(_ host: Int) {
        if let process = lock.withLock({ dockerds.removeValue(forKey: host) }) {
            let pid = process.processIdentifier
            if !Self.hasExited(pid) {
                if let ids = try? docker(host, ["ps", "-aq"], timeout: 30), !ids.isEmpty {
                    _ = try? docker(host, ["rm", "-f"] + ids.split(separator: "\n").map(String.init), timeout: 60)
                }
                kill(pid, SIGTERM)
            }
            if (try? waitUntil("dockerd h\(host) exits", timeout: 30, { Self.hasExited(pid) })) == nil {
                kill(pid, SIGKILL)
                try? waitUntil("dockerd h\(host) exits after SIGKILL", timeout: 10) { Self.hasExited(pid) }
            }
            removeLeftovers(host)
            // Foundation sees the exit only once every descendant holding its socket is gone.
            try? waitUntil("Foundation reaps dockerd h\(host)", timeout: 10) { !process.isRunning }
        } else {
            removeLeftovers(host)
        }
        try? FileManager.default.removeItem(atPath: dockerDirectory(host))
    }

    /// Whether our child `pid` has exited (a zombie, or gone), from /proc: `Process.isRunning`
    /// stays true while a containerd-shim holds the socket Foundation watches.
    static func hasExited(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].first { $0 != " " }
        return state == "Z" || state == "X"
    }

    /// What a dockerd killed with containers running leaves (Docs/DOCKER-TESTING.md, in that
    /// order): runc containers, shims and containerd, containerd.pid, mounts under its directory,
    /// the shims' sockets in /run/containerd/s. Nothing after a clean SIGTERM.
    private func removeLeftovers(_ host: Int) {
        let exec = execRoot(host)
        let runcRoot = exec + "/runtime-runc/moby"
        var containers: [String] = []
        if FileManager.default.fileExists(atPath: runcRoot), let ids = try? run(["runc", "--root", runcRoot, "list", "-q"], timeout: 30) {
            containers = ids.split(separator: "\n").map(String.init)
            for id in containers { _ = try? run(["runc", "--root", runcRoot, "delete", "-f", id], timeout: 30) }
        }
        for pid in Self.processes(mentioning: exec + "/") { kill(pid, SIGKILL) }
        try? waitUntil("dockerd h\(host)'s leftover processes exit", timeout: 10) { Self.processes(mentioning: exec + "/").isEmpty }
        for id in containers {
            let key = exec + "/containerd/containerd.sock/moby/" + id
            if let sum = try? run(["sh", "-c", "printf %s \"$0\" | sha256sum", key], timeout: 10) {
                let hash = sum.prefix(while: { $0.isHexDigit })
                if hash.count == 64 { try? FileManager.default.removeItem(atPath: "/run/containerd/s/" + hash) }
            }
        }
        try? FileManager.default.removeItem(atPath: exec + "/containerd/containerd.pid")
        for _ in 0..<5 {
            let mounts = Self.mounts(under: dockerDirectory(host))
            if mounts.isEmpty { break }
            for point in mounts.sorted(by: { $0.count > $1.count }) where (try? sh("umount", point)) == nil {
                _ = try? sh("umount", "-l", point)
            }
        }
    }

    /// PIDs (other than this process) whose command line contains `text`.
    static func processes(mentioning text: String) -> [Int32] {
        let me = getpid()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard pid != me, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(text)
        }
    }

    /// Mount points at or under `path` (our paths have no characters mountinfo escapes).
    static func mounts(under path: String) -> [String] {
        let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = String(fields[4])
            return point == path || point.hasPrefix(path + "/") ? point : nil
        }
    }

    // MARK: The plugin spec file (shared with the tests: DockerHosts.pluginSpec/removePluginSpec)

    /// Holds a shared flock on the lock file while the spec file `tcp://127.0.0.1:9801` is in
    /// use, making the file (and /etc/docker/plugins, recorded for the last user) when absent.
    /// A file naming another port is an error.
    func holdPluginSpec() throws {
        try checkOpen()
        let content = "tcp://127.0.0.1:\(Self.pluginPort)"
        let fd = open(Self.specLockFile, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BenchError("cannot open \(Self.specLockFile): errno \(errno)") }
        guard flock(fd, LOCK_SH) == 0 else {
            close(fd)
            throw BenchError("cannot lock \(Self.specLockFile): errno \(errno)")
        }
        do {
            let fm = FileManager.default
            for dir in ["/etc/docker", "/etc/docker/plugins"] where !fm.fileExists(atPath: dir) {
                try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
                if !fm.fileExists(atPath: Self.specMadeDirectories) { _ = fm.createFile(atPath: Self.specMadeDirectories, contents: nil) }
                let record = try FileHandle(forWritingTo: URL(fileURLWithPath: Self.specMadeDirectories))
                record.seekToEndOfFile()
                record.write(Data((dir + "\n").utf8))
                try record.close()
            }
            if let existing = try? String(contentsOfFile: Self.specFile, encoding: .utf8) {
                guard existing.trimmingCharacters(in: .whitespacesAndNewlines) == content else {
                    throw BenchError("\(Self.specFile) already says \(existing)")
                }
            } else {
                try (content + "\n").write(toFile: Self.specFile, atomically: true, encoding: .utf8)
            }
        } catch {
            close(fd)
            throw error
        }
        lock.withLock { specLock = fd }
    }

    /// Gives up the hold; whoever can turn it into an exclusive lock is the last user on the
    /// machine and removes the file and the directories the holders made.
    private func releasePluginSpec() {
        let fd = lock.withLock { () -> Int32 in
            defer { specLock = -1 }
            return specLock
        }
        guard fd >= 0 else { return }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            try? FileManager.default.removeItem(atPath: Self.specFile)
            let made = (try? String(contentsOfFile: Self.specMadeDirectories, encoding: .utf8)) ?? ""
            for dir in Set(made.split(separator: "\n")).sorted(by: { $0.count > $1.count }) { rmdir(String(dir)) }
            try? FileManager.default.removeItem(atPath: Self.specMadeDirectories)
        }
        close(fd)
    }

    // MARK: Teardown

    /// Stops everything, newest kind first: pings, dockerds (containers first), agents; then
    /// the namespaces, the directory and the spec file. Runs once; a caller arriving while it
    /// runs waits (up to 5 min) until it is done.
    func tearDown() {
        let snapshot = lock.withLock { () -> (running: [Process], daemons: [Int], hosts: [Int], agents: [Process])? in
            if closed { return nil }
            closed = true
            defer { others.removeAll(); agents.removeAll() }
            return (others, dockerds.keys.sorted(), started.sorted(), agents.keys.sorted().compactMap { agents[$0] })
        }
        guard let (running, daemons, hostsStarted, agentList) = snapshot else {
            if tornDown.wait(timeout: .now() + 300) == .success { tornDown.signal() }
            return
        }
        defer { tornDown.signal() }
        for process in running where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        DispatchQueue.concurrentPerform(iterations: daemons.count) { stopDocker(daemons[$0]) }
        for host in hostsStarted where !daemons.contains(host) { stopDocker(host) }
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
        releasePluginSpec()
    }
}
