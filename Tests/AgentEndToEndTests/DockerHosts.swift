import Foundation
import GrapevineTestSupport
import Synchronization
import Testing

/// One real `dockerd` per host namespace of a `TestCluster`, each with a tiny busybox image,
/// all made by the test and all removed by it (`cluster.docker`, stopped at the cluster's
/// teardown before its agents, also when the test throws).
///
/// Recipe (see Docs/DOCKER-TESTING.md): `nsenter --net=/var/run/netns/HOST dockerd` (not
/// `ip netns exec`, which remounts /sys and breaks dockerd's cgroup v1 detection) with its own
/// config file, data root, exec root, socket and pidfile under the cluster's directory, no
/// bridge, no iptables, the vfs storage driver. Plugins are found through the one hard-coded
/// `/etc/docker/plugins/grapevine.spec` (`tcp://127.0.0.1:PORT`), which each dockerd resolves
/// on its own namespace's loopback, so each host's dockerd reaches the plugin of its host.
final class DockerHosts: @unchecked Sendable {
    /// The image every dockerd holds after `startDocker`: static busybox and its applets.
    static let image = "grapevine-test/busybox:latest"
    static let specFile = "/etc/docker/plugins/grapevine.spec"
    static let applets = ["sh", "ip", "ping", "sleep", "cat", "ifconfig", "route", "hostname", "true", "nslookup"]
    /// How long a dockerd may take to answer, and to exit after SIGTERM (a running container
    /// whose PID 1 ignores SIGTERM, such as `sleep`, costs its 10 s stop timeout) before SIGKILL.
    static let startTimeout = 60.0
    static let stopTimeout = 30.0

    /// Root directory of this cluster's dockerds (`<cluster directory>/docker`).
    let directory: URL
    private let namespaces: [String]
    private let lock = NSLock()
    private var daemons: [Int: Process] = [:]
    private var started: Set<Int> = []
    private var imported: Set<Int> = []
    private var holdsSpec = false
    /// The daemon.json `dns` servers of every dockerd started from now on (the name service's
    /// one-time host setup).
    var daemonDNS: [String] {
        get { lock.withLock { dns } }
        set { lock.withLock { dns = newValue } }
    }
    private var dns: [String] = []

    init(cluster: TestCluster) {
        directory = cluster.directory.appendingPathComponent("docker")
        namespaces = cluster.hosts
    }

    // MARK: Paths

    func hostDirectory(_ host: Int) -> String { directory.appendingPathComponent("h\(host)").path }
    func socket(_ host: Int) -> String { hostDirectory(host) + "/docker.sock" }
    func dataRoot(_ host: Int) -> String { hostDirectory(host) + "/data" }
    func execRoot(_ host: Int) -> String { hostDirectory(host) + "/exec" }
    func pidFile(_ host: Int) -> String { hostDirectory(host) + "/docker.pid" }
    func log(_ host: Int) -> String { hostDirectory(host) + "/dockerd.log" }
    func configFile(_ host: Int) -> String { hostDirectory(host) + "/daemon.json" }
    private var rootfsTar: String { directory.appendingPathComponent("busybox.tar").path }

    /// The PID of host `host`'s running dockerd, if any.
    func pid(_ host: Int) -> Int32? { lock.withLock { daemons[host]?.processIdentifier } }

    // MARK: Start, stop, restart

    /// Starts host `host`'s dockerd in the host's network namespace, waits until its API
    /// answers, and imports the busybox image on its first start. Returns how long the
    /// daemon took to answer.
    @discardableResult
    func startDocker(host: Int) async throws -> Duration {
        try await onOwnThread { try self.startBlocking(host) }
    }

    /// Stops host `host`'s dockerd by PID with `signal` (SIGKILL after `stopTimeout`), removes
    /// what it left behind (containers and shims, netns and data-root mounts), and deletes its
    /// directories unless `keepData`.
    func stopDocker(host: Int, signal: Int32 = SIGTERM, keepData: Bool = false) async {
        let stop: @Sendable () -> Void = { self.stopBlocking(host, signal: signal, keepData: keepData) }
        _ = try? await onOwnThread(stop)
    }

    /// Stops host `host`'s dockerd with `signal` and starts it again on the same data (images,
    /// networks and containers survive), on one thread; returns the time it was down.
    @discardableResult
    func restartDocker(host: Int, signal: Int32 = SIGTERM) async throws -> Duration {
        try await onOwnThread {
            let clock = ContinuousClock()
            let down = clock.now
            self.stopBlocking(host, signal: signal, keepData: true)
            try self.startBlocking(host)
            return clock.now - down
        }
    }

    /// Runs `docker -H unix://… ARGS` against host `host`'s dockerd on a thread of its own;
    /// stdout, or throws `CommandFailed` with stderr.
    @discardableResult
    func docker(_ host: Int, _ arguments: String...) async throws -> String {
        try await docker(host, arguments: arguments)
    }

    @discardableResult
    func docker(_ host: Int, arguments: [String]) async throws -> String {
        let command = ["docker", "-H", "unix://\(socket(host))"] + arguments
        return try await onOwnThread { try run(command) }
    }

    @discardableResult
    private func startBlocking(_ host: Int) throws -> Duration {
        let fm = FileManager.default
        for dir in [dataRoot(host), execRoot(host)] { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        // Our own config file: no /etc/docker/daemon.json, and the trust key (which dockerd
        // 20.10 otherwise writes to /etc/docker/key.json) stays in our directory.
        var config: [String: Any] = ["deprecated-key-path": hostDirectory(host) + "/key.json"]
        if !daemonDNS.isEmpty { config["dns"] = daemonDNS }
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configFile(host)))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // nsenter and env exec in place: the process is dockerd itself.
        process.arguments = ["nsenter", "--net=/var/run/netns/\(namespaces[host - 1])", "dockerd",
                             "--config-file", configFile(host), "--data-root", dataRoot(host),
                             "--exec-root", execRoot(host), "-H", "unix://\(socket(host))",
                             "--pidfile", pidFile(host), "--iptables=false", "--ip6tables=false",
                             "--bridge=none", "--storage-driver=vfs"]
        _ = fm.createFile(atPath: log(host), contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log(host)))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        let clock = ContinuousClock()
        let launched = clock.now
        try process.run()
        lock.withLock {
            daemons[host] = process
            started.insert(host)
        }
        let version = ["docker", "-H", "unix://\(socket(host))", "version", "--format", "{{.Server.Version}}"]
        try waitBlocking("dockerd h\(host) answers", timeout: Self.startTimeout) {
            guard !Self.hasExited(process.processIdentifier) else {
                throw DockerdExited(host: host, log: (try? String(contentsOfFile: self.log(host), encoding: .utf8)) ?? "")
            }
            return (try? run(version)) != nil
        }
        let answered = clock.now - launched
        let recorded = (try? String(contentsOfFile: pidFile(host), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard recorded == "\(process.processIdentifier)" else {
            throw DockerHarnessError("dockerd h\(host): pidfile says \(recorded ?? "nothing"), started \(process.processIdentifier)")
        }
        if !lock.withLock({ imported.contains(host) }) {
            try makeRootfsTar()
            try run(["docker", "-H", "unix://\(socket(host))", "import", rootfsTar, Self.image])
            lock.withLock { _ = imported.insert(host) }
        }
        return answered
    }

    private func stopBlocking(_ host: Int, signal: Int32, keepData: Bool) {
        if let process = lock.withLock({ daemons.removeValue(forKey: host) }) {
            let pid = process.processIdentifier
            if !Self.hasExited(pid) { kill(pid, signal) }
            if (try? waitBlocking("dockerd h\(host) exits", timeout: Self.stopTimeout, { Self.hasExited(pid) })) == nil {
                kill(pid, SIGKILL)
                try? waitBlocking("dockerd h\(host) exits after SIGKILL", timeout: 10) { Self.hasExited(pid) }
            }
            // Only now can Foundation see the exit: it watches a socket that dockerd's
            // descendants inherit, and a killed dockerd's shims keep it open.
            removeLeftovers(host)
            try? waitBlocking("Foundation reaps dockerd h\(host)", timeout: 10) { !process.isRunning }
        } else {
            removeLeftovers(host)
        }
        if !keepData {
            try? FileManager.default.removeItem(atPath: hostDirectory(host))
            lock.withLock { _ = imported.remove(host) }
        }
    }

    /// Whether our child `pid` has exited (a zombie, or gone). `Process.isRunning` is not
    /// enough: swift-corelibs-foundation learns of a child's exit when a socket the child
    /// inherited closes, and dockerd passes it on to containerd and every containerd-shim, so
    /// while a shim lives (after SIGKILL) `isRunning` stays true and `waitUntilExit` spins.
    static func hasExited(_ pid: Int32) -> Bool {
        guard let data = procFile("/proc/\(pid)/stat") else { return true }
        let stat = String(decoding: data, as: UTF8.self)
        guard let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].first { $0 != " " }
        return state == "Z" || state == "X"
    }

    /// What a dockerd can leave after it is gone (after SIGKILL: running containers, their
    /// containerd-shims, the netns bind mounts under the exec root and dockerd's bind mount of
    /// its data root on itself). After a SIGTERM with no containers there is nothing.
    private func removeLeftovers(_ host: Int) {
        let runcRoot = execRoot(host) + "/runtime-runc/moby"
        var containers: [String] = []
        if FileManager.default.fileExists(atPath: runcRoot),
           let ids = try? run(["runc", "--root", runcRoot, "list", "-q"]) {
            containers = ids.split(separator: "\n").map(String.init)
            for id in containers { _ = try? run(["runc", "--root", runcRoot, "delete", "-f", id]) }
        }
        // Everything naming the host's docker directory is dockerd's, except the agent, which
        // names its engine socket (`--docker-socket`) and is not dockerd's to stop.
        let stray = leftovers(host)
        for pid in stray { kill(pid, SIGKILL) }
        // Not our children (shims re-parent to PID 1): wait until they are gone or zombies.
        try? waitBlocking("dockerd h\(host)'s leftover processes exit", timeout: 10) {
            self.leftovers(host).isEmpty
        }
        // A killed shim leaves its socket in containerd's fixed directory, named
        // sha256(<containerd address>/<namespace>/<container id>) (containerd 1.6
        // runtime/v2/shim SocketAddress).
        for id in containers {
            let key = execRoot(host) + "/containerd/containerd.sock/moby/" + id
            if let hash = try? run(["sha256sum"], input: key).prefix(while: { $0.isHexDigit }), hash.count == 64 {
                try? FileManager.default.removeItem(atPath: "/run/containerd/s/" + hash)
            }
        }
        // A killed containerd can stay a zombie for a while (it is PID 1's to reap), and
        // dockerd takes a live PID in containerd.pid for a running containerd: it would wait
        // for its socket and give up ("timeout waiting for containerd to start").
        try? FileManager.default.removeItem(atPath: execRoot(host) + "/containerd/containerd.pid")
        for _ in 0..<5 {
            let mounts = DockerHosts.mounts(under: hostDirectory(host))
            if mounts.isEmpty { break }
            for point in mounts.sorted(by: { $0.count > $1.count }) where (try? run(["umount", point])) == nil {
                _ = try? run(["umount", "-l", point])
            }
        }
    }

    /// Stops every dockerd (containers removed first, so no stop timeout is spent on them),
    /// removes all leftovers and directories, and gives up the spec file. Blocking. A
    /// directory it cannot remove (a mount left under it) is recorded as an issue of the test.
    func tearDown() {
        let running = lock.withLock { daemons.keys.sorted() }
        let all = lock.withLock { started.sorted() }
        DispatchQueue.concurrentPerform(iterations: running.count) { i in
            let host = running[i]
            let base = ["docker", "-H", "unix://\(socket(host))"]
            if let ids = try? run(base + ["ps", "-aq"]), !ids.isEmpty {
                _ = try? run(base + ["rm", "-f"] + ids.split(separator: "\n").map(String.init))
            }
            stopBlocking(host, signal: SIGTERM, keepData: false)
        }
        for host in all { stopBlocking(host, signal: SIGKILL, keepData: false) }
        do {
            try FileManager.default.removeItem(at: directory)
        } catch {
            Issue.record("the Docker harness left \(directory.path) (mounts under it: \(DockerHosts.mounts(under: directory.path))): \(error)")
        }
        removePluginSpec()
    }

    // MARK: Busybox image

    private func makeRootfsTar() throws {
        try lock.withLock {
            let fm = FileManager.default
            if fm.fileExists(atPath: rootfsTar) { return }
            guard let busybox = Self.busybox else { throw DockerHarnessError("no static busybox") }
            let rootfs = directory.appendingPathComponent("rootfs")
            let bin = rootfs.appendingPathComponent("bin")
            try fm.createDirectory(at: bin, withIntermediateDirectories: true)
            try fm.copyItem(atPath: busybox, toPath: bin.appendingPathComponent("busybox").path)
            for applet in Self.applets {
                try fm.createSymbolicLink(atPath: bin.appendingPathComponent(applet).path, withDestinationPath: "busybox")
            }
            try run(["tar", "-C", rootfs.path, "-cf", rootfsTar, "."])
            try fm.removeItem(at: rootfs)
        }
    }

    // MARK: Plugin spec file

    private struct SpecState {
        var holders = 0
        var port = 0
        var lock: Int32 = -1
    }

    /// Shared by every test of the process: the file is one path for all dockerds.
    private static let spec = Mutex(SpecState())
    /// Shared with other test processes on the machine (other worktrees run theirs at the same
    /// time): each holds a shared flock while it needs the file, and whoever can turn it into an
    /// exclusive one on the way out is the last user and removes the file.
    static let specLockFile = "/run/lock/grapevine-test-docker-spec.lock"
    /// The directories the tests made for the spec file, for the last user to remove.
    private static let specMadeDirectories = "/run/lock/grapevine-test-docker-spec.dirs"

    /// Writes `/etc/docker/plugins/grapevine.spec` = `tcp://127.0.0.1:PORT` for this cluster's
    /// lifetime (each dockerd resolves it in its own namespace). The last user on the machine
    /// removes it, and the directories a test made (if empty); a file naming another port is
    /// an error.
    func pluginSpec(port: Int = 9801) throws {
        if lock.withLock({ holdsSpec }) { return }
        try Self.spec.withLock { state in
            let content = "tcp://127.0.0.1:\(port)"
            if state.holders == 0 {
                let fd = open(Self.specLockFile, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw DockerHarnessError("cannot open \(Self.specLockFile): errno \(errno)") }
                guard flock(fd, LOCK_SH) == 0 else {
                    close(fd)
                    throw DockerHarnessError("cannot lock \(Self.specLockFile): errno \(errno)")
                }
                do {
                    let fm = FileManager.default
                    for dir in ["/etc/docker", "/etc/docker/plugins"] where !fm.fileExists(atPath: dir) {
                        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
                        let record = try FileHandle(forWritingTo: URL(fileURLWithPath: Self.specMadeDirectories, isDirectory: false),
                                                    creating: true)
                        record.seekToEndOfFile()
                        record.write(Data((dir + "\n").utf8))
                        try record.close()
                    }
                    if let existing = try? String(contentsOfFile: Self.specFile, encoding: .utf8) {
                        guard existing.trimmingCharacters(in: .whitespacesAndNewlines) == content else {
                            throw DockerHarnessError("\(Self.specFile) already says \(existing)")
                        }
                    } else {
                        try (content + "\n").write(toFile: Self.specFile, atomically: true, encoding: .utf8)
                    }
                } catch {
                    close(fd)
                    throw error
                }
                state.lock = fd
                state.port = port
            } else if state.port != port {
                throw DockerHarnessError("\(Self.specFile) is in use for port \(state.port)")
            }
            state.holders += 1
        }
        lock.withLock { holdsSpec = true }
    }

    /// Whether some process holds the spec file now (this one included).
    static func specFileHeld() -> Bool {
        let fd = open(specLockFile, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) != 0
    }

    /// Gives up this cluster's hold on the spec file (the last holder removes it).
    func removePluginSpec() {
        guard lock.withLock({ () -> Bool in
            defer { holdsSpec = false }
            return holdsSpec
        }) else { return }
        Self.spec.withLock { state in
            state.holders -= 1
            guard state.holders == 0 else { return }
            if flock(state.lock, LOCK_EX | LOCK_NB) == 0 {
                try? FileManager.default.removeItem(atPath: Self.specFile)
                let made = (try? String(contentsOfFile: Self.specMadeDirectories, encoding: .utf8)) ?? ""
                for dir in Set(made.split(separator: "\n")).sorted(by: { $0.count > $1.count }) { rmdir(String(dir)) }
                try? FileManager.default.removeItem(atPath: Self.specMadeDirectories)
            }
            close(state.lock)
            state = SpecState()
        }
    }

    // MARK: Availability

    /// A static busybox (the image has no libc), if there is one.
    static let busybox: String? = ["/usr/bin/busybox", "/bin/busybox"].first { isStaticELF($0) }

    /// What the harness needs and the machine lacks (`scripts/setup.sh` installs it).
    static let missing: [String] = {
        var missing = ["dockerd", "docker", "nsenter", "runc", "umount", "tar"].filter { !onPath($0) }
        if busybox == nil { missing.append("static busybox (busybox-static)") }
        return missing
    }()

    static var available: Bool { missing.isEmpty }

    /// Called first by Docker tests: fails with a clear message when the tools are missing
    /// (a skip would count as a failure in CI anyway).
    static func require() throws {
        guard available else {
            Issue.record("Docker tests need \(missing.joined(separator: ", ")); run scripts/setup.sh")
            throw DockerHarnessError("Docker tests unavailable")
        }
    }

    private static func onPath(_ name: String) -> Bool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
    }

    /// An ELF file with no program interpreter (PT_INTERP) runs without a dynamic loader.
    private static func isStaticELF(_ path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path), data.count > 64,
              data.prefix(4) == Data([0x7F, 0x45, 0x4C, 0x46]), data[4] == 2, data[5] == 1 else { return false }
        func field(_ offset: Int, _ size: Int) -> Int {
            (0..<size).reduce(0) { $0 | Int(data[offset + $1]) << (8 * $1) }
        }
        let table = field(0x20, 8), entrySize = field(0x36, 2), count = field(0x38, 2)
        for i in 0..<count {
            let entry = table + i * entrySize
            guard entry + 4 <= data.count else { return false }
            if field(entry, 4) == 3 { return false }
        }
        return true
    }

    private func leftovers(_ host: Int) -> [Int32] {
        DockerHosts.processes(mentioning: hostDirectory(host) + "/").filter { pid in
            let cmdline = DockerHosts.procFile("/proc/\(pid)/cmdline") ?? Data()
            return !String(decoding: cmdline, as: UTF8.self).contains("--docker-socket")
        }
    }

    // MARK: Inspection (also used by the tests to prove nothing is left)

    /// PIDs (other than this process) whose command line contains `text`.
    static func processes(mentioning text: String) -> [Int32] {
        let me = ProcessInfo.processInfo.processIdentifier
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard pid != me, let data = procFile("/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(text)
        }
    }

    /// Mount points at or under `path`, from /proc/self/mountinfo (all of it, `procFile`).
    static func mounts(under path: String) -> [String] {
        let text = String(decoding: procFile("/proc/self/mountinfo") ?? Data(), as: UTF8.self)
        return text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = unescapeMountinfo(String(fields[4]))
            return point == path || point.hasPrefix(path + "/") ? point : nil
        }
    }

    /// The whole of a /proc file, read until read(2) returns 0; nil if it cannot be opened or
    /// read. Not Foundation's `String(contentsOfFile:)` or `FileManager.contents(atPath:)`:
    /// for a file whose stat size is 0 they stop at the first read shorter than 4,096 bytes
    /// (seen with strace: one `read(fd, buf, 4096)` returning 4,086), and the kernel hands
    /// /proc/PID/mountinfo out about one page per read. Past about 40 mounts (the full live
    /// run) they returned the first page only, without an error: the newest mounts, a SIGKILLed
    /// dockerd's data root among them, were not there to unmount (Docs/DOCKER-TESTING.md).
    static func procFile(_ path: String) -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { return data }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            data.append(contentsOf: buffer[0..<count])
        }
    }

    /// mountinfo writes space, tab, newline and backslash as \ooo.
    private static func unescapeMountinfo(_ text: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
               let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

struct DockerdExited: Error, CustomStringConvertible {
    var host: Int
    var log: String
    var description: String { "dockerd h\(host) exited:\n\(log.suffix(4000))" }
}

struct DockerHarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

private extension FileHandle {
    /// Opens `url` for writing, creating it (empty) if it does not exist.
    convenience init(forWritingTo url: URL, creating: Bool) throws {
        if creating && !FileManager.default.fileExists(atPath: url.path) {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        try self.init(forWritingTo: url)
    }
}
