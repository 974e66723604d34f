import Foundation
import GrapevineTestSupport
import Testing

/// The Docker harness on its own (no agent, no plugin): a dockerd per host namespace runs a
/// container, survives a restart, and leaves no process, mount, directory or spec file behind.
@Suite(.serialized, KernelTestGate.trait)
struct DockerHarnessTests {
    @Test(.timeLimit(.minutes(3))) func twoDockerdsRunContainersAndLeaveNothingBehind() async throws {
        try DockerHosts.require()
        let specExisted = FileManager.default.fileExists(atPath: DockerPluginSpec.specFile)
        let keyExisted = FileManager.default.fileExists(atPath: "/etc/docker/key.json")
        let (directory, pids) = try await TestCluster.with(hosts: 2, networks: [:], agents: false) { cluster in
            let docker = cluster.docker
            try docker.pluginSpec(port: 9801)
            #expect(try String(contentsOfFile: DockerPluginSpec.specFile, encoding: .utf8) == "tcp://127.0.0.1:9801\n")
            var pids: [Int32] = []
            for h in 1...2 {
                let took = try await docker.startDocker(host: h)
                print("dockerd h\(h) answered after \(took)")
                let pid = try #require(docker.pid(h))
                pids.append(pid)
                // dockerd runs in its host's network namespace, not in ours.
                let daemonNet = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net")
                let hostNet = try sh("stat", "-L", "-c", "net:[%i]", "/var/run/netns/\(cluster.namespace(h))")
                #expect(daemonNet == hostNet.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            for h in 1...2 {
                try await docker.docker(h, "run", "--rm", "--network", "none", Dockerds.image, "true")
                let id = try await docker.docker(h, "run", "-d", "--network", "none", Dockerds.image, "sleep", "1000")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                try await docker.docker(h, "rm", "-f", id)
            }
            // A restart keeps the image; a container left running is the teardown's job.
            let down = try await docker.restartDocker(host: 1)
            print("dockerd h1 restarted in \(down)")
            pids.append(try #require(docker.pid(1)))
            #expect(try await docker.docker(1, "run", "--rm", "--network", "none", Dockerds.image, "hostname").isEmpty == false)
            // A dockerd killed with a container running leaves the container, its shim and
            // mounts; the harness removes them before the next start.
            try await docker.docker(2, "run", "-d", "--network", "none", Dockerds.image, "sleep", "1000")
            let crashed = try await docker.restartDocker(host: 2, signal: SIGKILL)
            print("dockerd h2 killed and restarted in \(crashed)")
            pids.append(try #require(docker.pid(2)))
            #expect(try await docker.docker(2, "ps", "-q").isEmpty)
            #expect(try await docker.docker(2, "ps", "-aq").isEmpty == false)
            try await docker.docker(2, "run", "-d", "--network", "none", Dockerds.image, "sleep", "1000")
            return (docker.directory.path, pids)
        }
        for pid in pids {
            #expect(ProcFile.commandLine(pid)?.contains(directory) != true, "dockerd \(pid) still runs")
        }
        #expect(ProcFile.processes(mentioning: directory).isEmpty, "processes of the test remain")
        // h2's dockerd was killed: nothing but the harness removes its data-root bind mount.
        // findmnt is a second reader of the mount table, independent of the harness's own.
        let targets = try sh("findmnt", "-rn", "-o", "TARGET").split(separator: "\n")
        #expect(ProcFile.mounts(under: directory).isEmpty, "mounts remain under \(directory)")
        #expect(!targets.contains { $0 == directory || $0.hasPrefix(directory + "/") }, "findmnt lists mounts under \(directory)")
        #expect(!FileManager.default.fileExists(atPath: directory))
        // Unless it was there before, or another test process (another worktree) uses it now.
        if !specExisted && !DockerPluginSpec.isHeld() {
            #expect(!FileManager.default.fileExists(atPath: DockerPluginSpec.specFile))
        }
        if !keyExisted { #expect(!FileManager.default.fileExists(atPath: "/etc/docker/key.json")) }
    }
}
