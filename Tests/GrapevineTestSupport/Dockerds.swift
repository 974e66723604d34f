public import Foundation

/// One real `dockerd` per host network namespace, each with a tiny busybox image, all made by
/// the caller and all removed by `tearDown` (the tests' `DockerHosts`, `agent-bench docker`).
/// Blocking: call it from a thread of its own (`onOwnThread`), never on Swift's pool.
///
/// Recipe (see Docs/DOCKER-TESTING.md): `nsenter --net=/var/run/netns/HOST dockerd` (not
/// `ip netns exec`, which remounts /sys and breaks dockerd's cgroup v1 detection) with its own
/// config file, data root, exec root, socket and pidfile under `<directory>/h<host>`, no
/// bridge, no iptables, the vfs storage driver. Plugins are found through the one hard-coded
/// `/etc/docker/plugins/grapevine.spec` (`DockerPluginSpec`), which each dockerd resolves on
/// its own namespace's loopback, so each host's dockerd reaches the plugin of its host.
/// Every dockerd is stopped by PID and judged by /proc (`ProcFile`).
public final class Dockerds: @unchecked Sendable {
    /// The image every dockerd holds after `start`: static busybox and its applets.
    public static let image = "grapevine-test/busybox:latest"
    public static let applets = ["sh", "ip", "ping", "sleep", "cat", "ifconfig", "route", "hostname", "true", "nslookup"]
    /// How long a dockerd may take to answer, and to exit after SIGTERM (a running container
    /// whose PID 1 ignores SIGTERM, such as `sleep`, costs its 10 s stop timeout) before SIGKILL.
    public static let startTimeout = 60.0
    public static let stopTimeout = 30.0

    /// Root directory of these dockerds (one `h<host>` directory each, and the image's tar).
    public let directory: String
    /// The hold on the plugin spec file, given up by `tearDown`.
    public let pluginSpec = DockerPluginSpec()
    private let namespace: @Sendable (Int) -> String
    private let lock = NSLock()
    private var daemons: [Int: Process] = [:]
    private var started: Set<Int> = []
    private var imported: Set<Int> = []
    private var closed = false
    private var dns: [String] = []

    /// `namespace(host)` names host `host`'s network namespace (hosts count from 1).
    public init(directory: String, namespace: @escaping @Sendable (Int) -> String) {
        self.directory = directory
        self.namespace = namespace
    }

    /// The daemon.json `dns` servers of every dockerd started from now on (the name service's
    /// one-time host setup).
    public var daemonDNS: [String] {
        get { lock.withLock { dns } }
        set { lock.withLock { dns = newValue } }
    }

    // MARK: Paths

    public func hostDirectory(_ host: Int) -> String { directory + "/h\(host)" }
    public func socket(_ host: Int) -> String { hostDirectory(host) + "/docker.sock" }
    public func dataRoot(_ host: Int) -> String { hostDirectory(host) + "/data" }
    public func execRoot(_ host: Int) -> String { hostDirectory(host) + "/exec" }
    public func pidFile(_ host: Int) -> String { hostDirectory(host) + "/docker.pid" }
    public func log(_ host: Int) -> String { hostDirectory(host) + "/dockerd.log" }
    public func configFile(_ host: Int) -> String { hostDirectory(host) + "/daemon.json" }
    private var rootfsTar: String { directory + "/busybox.tar" }

    /// The PID of host `host`'s running dockerd, if any.
    public func pid(_ host: Int) -> Int32? { lock.withLock { daemons[host]?.processIdentifier } }

    // MARK: Commands

    /// Runs `docker -H unix://… ARGS` against host `host`'s dockerd, killed after `timeout`
    /// seconds when given; stdout, or throws `CommandFailed` with stderr.
    @discardableResult
    public func docker(_ host: Int, _ arguments: [String], timeout: Double? = nil) throws -> String {
        try run(["docker", "-H", "unix://\(socket(host))"] + arguments, timeout: timeout)
    }

    // MARK: Start, stop, restart

    /// Starts host `host`'s dockerd in the host's network namespace, waits until its API
    /// answers, and imports the busybox image on its first start. Returns how long the
    /// daemon took to answer. Throws once `tearDown` has begun.
    @discardableResult
    public func start(_ host: Int) throws -> Duration {
        if lock.withLock({ closed }) { throw DockerHarnessError("the Docker harness is being torn down") }
        let fm = FileManager.default
        for dir in [dataRoot(host), execRoot(host)] { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        // Our own config file: no /etc/docker/daemon.json, and the trust key (which dockerd
        // 20.10 otherwise writes to /etc/docker/key.json) stays in our directory.
        var config: [String: Any] = ["deprecated-key-path": hostDirectory(host) + "/key.json"]
        let dns = daemonDNS
        if !dns.isEmpty { config["dns"] = dns }
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configFile(host)))
        _ = fm.createFile(atPath: log(host), contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log(host)))
        handle.seekToEndOfFile()
        let clock = ContinuousClock()
        let launched = clock.now
        // nsenter and env exec in place: the process is dockerd itself.
        let process = try launch(["nsenter", "--net=/var/run/netns/\(namespace(host))", "dockerd",
                                  "--config-file", configFile(host), "--data-root", dataRoot(host),
                                  "--exec-root", execRoot(host), "-H", "unix://\(socket(host))",
                                  "--pidfile", pidFile(host), "--iptables=false", "--ip6tables=false",
                                  "--bridge=none", "--storage-driver=vfs"], output: handle)
        let late = lock.withLock { () -> Bool in
            if closed { return true }
            daemons[host] = process
            started.insert(host)
            return false
        }
        if late {
            kill(process.processIdentifier, SIGKILL)
            throw DockerHarnessError("the Docker harness is being torn down")
        }
        try waitBlocking("dockerd h\(host) answers", timeout: Self.startTimeout) {
            guard !ProcFile.hasExited(process.processIdentifier) else {
                throw DockerdExited(host: host, log: (try? String(contentsOfFile: self.log(host), encoding: .utf8)) ?? "")
            }
            return (try? self.docker(host, ["version", "--format", "{{.Server.Version}}"], timeout: 10)) != nil
        }
        let answered = clock.now - launched
        let recorded = (try? String(contentsOfFile: pidFile(host), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard recorded == "\(process.processIdentifier)" else {
            throw DockerHarnessError("dockerd h\(host): pidfile says \(recorded ?? "nothing"), started \(process.processIdentifier)")
        }
        if !lock.withLock({ imported.contains(host) }) {
            try makeRootfsTar()
            try docker(host, ["import", rootfsTar, Self.image], timeout: 120)
            lock.withLock { _ = imported.insert(host) }
        }
        return answered
    }

    /// Stops host `host`'s dockerd by PID with `signal` (SIGKILL after `stopTimeout`), removes
    /// what it left behind (containers and shims, netns and data-root mounts), and deletes its
    /// directory unless `keepData`.
    public func stop(_ host: Int, signal: Int32 = SIGTERM, keepData: Bool = false) {
        if let process = lock.withLock({ daemons.removeValue(forKey: host) }) {
            let pid = process.processIdentifier
            if !ProcFile.hasExited(pid) { kill(pid, signal) }
            if (try? waitBlocking("dockerd h\(host) exits", timeout: Self.stopTimeout, { ProcFile.hasExited(pid) })) == nil {
                kill(pid, SIGKILL)
                try? waitBlocking("dockerd h\(host) exits after SIGKILL", timeout: 10) { ProcFile.hasExited(pid) }
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

    /// Stops host `host`'s dockerd with `signal` and starts it again on the same data (images,
    /// networks and containers survive); returns the time it was down.
    @discardableResult
    public func restart(_ host: Int, signal: Int32 = SIGTERM) throws -> Duration {
        let clock = ContinuousClock()
        let down = clock.now
        stop(host, signal: signal, keepData: true)
        try start(host)
        return clock.now - down
    }

    /// Stops every dockerd (containers removed first, so no stop timeout is spent on them),
    /// removes all leftovers and directories, and gives up the spec file; later `start`s throw.
    /// Returns what it could not remove (the directory, with the mounts left under it), empty
    /// when nothing is left: the caller reports it (a test issue, a benchmark's warning).
    public func tearDown() -> [String] {
        let (running, all) = lock.withLock { () -> ([Int], [Int]) in
            closed = true
            return (daemons.keys.sorted(), started.sorted())
        }
        DispatchQueue.concurrentPerform(iterations: running.count) { i in
            let host = running[i]
            if let ids = try? docker(host, ["ps", "-aq"], timeout: 30), !ids.isEmpty {
                _ = try? docker(host, ["rm", "-f"] + ids.split(separator: "\n").map(String.init), timeout: 60)
            }
            stop(host, signal: SIGTERM, keepData: false)
        }
        for host in all { stop(host, signal: SIGKILL, keepData: false) }
        var left: [String] = []
        if FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.removeItem(atPath: directory)
            } catch {
                left.append("\(directory) (mounts under it: \(ProcFile.mounts(under: directory))): \(error)")
            }
        }
        pluginSpec.release()
        return left
    }

    /// What a dockerd can leave after it is gone (after SIGKILL: running containers, their
    /// containerd-shims, the netns bind mounts under the exec root and dockerd's bind mount of
    /// its data root on itself). After a SIGTERM with no containers there is nothing.
    private func removeLeftovers(_ host: Int) {
        let runcRoot = execRoot(host) + "/runtime-runc/moby"
        var containers: [String] = []
        if FileManager.default.fileExists(atPath: runcRoot),
           let ids = try? run(["runc", "--root", runcRoot, "list", "-q"], timeout: 30) {
            containers = ids.split(separator: "\n").map(String.init)
            for id in containers { _ = try? run(["runc", "--root", runcRoot, "delete", "-f", id], timeout: 30) }
        }
        for pid in leftovers(host) { kill(pid, SIGKILL) }
        // Not our children (shims re-parent to PID 1): wait until they are gone or zombies.
        try? waitBlocking("dockerd h\(host)'s leftover processes exit", timeout: 10) {
            self.leftovers(host).isEmpty
        }
        // A killed shim leaves its socket in containerd's fixed directory, named
        // sha256(<containerd address>/<namespace>/<container id>) (containerd 1.6
        // runtime/v2/shim SocketAddress).
        for id in containers {
            let key = execRoot(host) + "/containerd/containerd.sock/moby/" + id
            if let hash = try? run(["sha256sum"], input: key, timeout: 10).prefix(while: { $0.isHexDigit }), hash.count == 64 {
                try? FileManager.default.removeItem(atPath: "/run/containerd/s/" + hash)
            }
        }
        // A killed containerd can stay a zombie for a while (it is PID 1's to reap), and
        // dockerd takes a live PID in containerd.pid for a running containerd: it would wait
        // for its socket and give up ("timeout waiting for containerd to start").
        try? FileManager.default.removeItem(atPath: execRoot(host) + "/containerd/containerd.pid")
        for _ in 0..<5 {
            let mounts = ProcFile.mounts(under: hostDirectory(host))
            if mounts.isEmpty { break }
            for point in mounts.sorted(by: { $0.count > $1.count }) where (try? run(["umount", point])) == nil {
                _ = try? run(["umount", "-l", point])
            }
        }
    }

    /// Everything naming the host's docker directory is dockerd's, except the agent, which
    /// names its engine socket (`--docker-socket`) and is not dockerd's to stop.
    private func leftovers(_ host: Int) -> [Int32] {
        ProcFile.processes(mentioning: hostDirectory(host) + "/").filter { pid in
            ProcFile.commandLine(pid)?.contains("--docker-socket") != true
        }
    }

    // MARK: Busybox image

    private func makeRootfsTar() throws {
        try lock.withLock {
            let fm = FileManager.default
            if fm.fileExists(atPath: rootfsTar) { return }
            guard let busybox = Self.busybox else { throw DockerHarnessError("no static busybox (scripts/setup.sh installs busybox-static)") }
            let rootfs = directory + "/rootfs"
            let bin = rootfs + "/bin"
            try fm.createDirectory(atPath: bin, withIntermediateDirectories: true)
            try fm.copyItem(atPath: busybox, toPath: bin + "/busybox")
            for applet in Self.applets {
                try fm.createSymbolicLink(atPath: bin + "/" + applet, withDestinationPath: "busybox")
            }
            try run(["tar", "-C", rootfs, "-cf", rootfsTar, "."])
            try fm.removeItem(atPath: rootfs)
        }
    }

    // MARK: Availability

    /// A static busybox (the image has no libc), if there is one.
    public static let busybox: String? = ["/usr/bin/busybox", "/bin/busybox"].first { isStaticELF($0) }

    /// What the harness needs and the machine lacks (`scripts/setup.sh` installs it).
    public static let missing: [String] = {
        var missing = ["dockerd", "docker", "nsenter", "runc", "umount", "tar"].filter { !onPath($0) }
        if busybox == nil { missing.append("static busybox (busybox-static)") }
        return missing
    }()

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
}

/// A dockerd that exited before it answered, with the tail of its log.
public struct DockerdExited: Error, CustomStringConvertible {
    public var host: Int
    public var log: String
    public var description: String { "dockerd h\(host) exited:\n\(log.suffix(4000))" }
}

/// What went wrong in the Docker harness, in words.
public struct DockerHarnessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
