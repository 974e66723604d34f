import Foundation
import GrapevineTestSupport
import Testing

/// One real `dockerd` per host namespace of a `TestCluster` (`cluster.docker`, stopped at the
/// cluster's teardown before its agents, also when the test throws): the support target's
/// `Dockerds` (the recipe and its removal, shared with `agent-bench docker`) under
/// `<cluster directory>/docker`, with async calls that block a thread of their own rather than
/// Swift's pool, and the harness's failures recorded as issues of the test.
final class DockerHosts: Sendable {
    let dockerds: Dockerds
    /// Root directory of this cluster's dockerds (`<cluster directory>/docker`).
    let directory: URL

    init(cluster: TestCluster) {
        directory = cluster.directory.appendingPathComponent("docker")
        let namespaces = cluster.hosts
        dockerds = Dockerds(directory: directory.path) { namespaces[$0 - 1] }
    }

    /// The daemon.json `dns` servers of every dockerd started from now on.
    var daemonDNS: [String] {
        get { dockerds.daemonDNS }
        set { dockerds.daemonDNS = newValue }
    }

    func socket(_ host: Int) -> String { dockerds.socket(host) }
    func log(_ host: Int) -> String { dockerds.log(host) }
    func configFile(_ host: Int) -> String { dockerds.configFile(host) }
    func pid(_ host: Int) -> Int32? { dockerds.pid(host) }

    /// Starts host `host`'s dockerd (`Dockerds.start`); returns how long it took to answer.
    @discardableResult
    func startDocker(host: Int) async throws -> Duration {
        try await onOwnThread { try self.dockerds.start(host) }
    }

    /// Stops host `host`'s dockerd with `signal` and removes what it left (`Dockerds.stop`).
    func stopDocker(host: Int, signal: Int32 = SIGTERM, keepData: Bool = false) async {
        _ = try? await onOwnThread { self.dockerds.stop(host, signal: signal, keepData: keepData) }
    }

    /// Stops host `host`'s dockerd with `signal` and starts it again on the same data; returns
    /// the time it was down.
    @discardableResult
    func restartDocker(host: Int, signal: Int32 = SIGTERM) async throws -> Duration {
        try await onOwnThread { try self.dockerds.restart(host, signal: signal) }
    }

    /// Runs `docker -H unix://… ARGS` against host `host`'s dockerd on a thread of its own;
    /// stdout, or throws `CommandFailed` with stderr.
    @discardableResult
    func docker(_ host: Int, _ arguments: String...) async throws -> String {
        try await docker(host, arguments: arguments)
    }

    @discardableResult
    func docker(_ host: Int, arguments: [String]) async throws -> String {
        try await onOwnThread { try self.dockerds.docker(host, arguments) }
    }

    /// Holds `/etc/docker/plugins/grapevine.spec` = `tcp://127.0.0.1:PORT` for this cluster's
    /// lifetime (`DockerPluginSpec`).
    func pluginSpec(port: Int = 9801) throws {
        try dockerds.pluginSpec.hold(port: port)
    }

    /// Stops every dockerd and removes everything (`Dockerds.tearDown`). Blocking. What it
    /// could not remove is recorded as an issue of the test.
    func tearDown() {
        for left in dockerds.tearDown() {
            Issue.record("the Docker harness left \(left)")
        }
    }

    /// Called first by Docker tests: fails with a clear message when the tools are missing
    /// (a skip would count as a failure in CI anyway).
    static func require() throws {
        guard Dockerds.missing.isEmpty else {
            Issue.record("Docker tests need \(Dockerds.missing.joined(separator: ", ")); run scripts/setup.sh")
            throw DockerHarnessError("Docker tests unavailable")
        }
    }
}
