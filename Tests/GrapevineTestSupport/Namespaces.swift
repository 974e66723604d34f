import Foundation
public import Netlink
import Synchronization

private let namespaceCounter = Atomic<Int>(0)

/// Creates network namespaces with names unique to this process and test, runs `body`, and
/// deletes them afterwards whether `body` succeeded or threw. Swift Testing runs tests in
/// parallel, so no two tests ever share a name.
public func withNamespaces<T>(_ tags: [String], _ body: ([String]) async throws -> T) async throws -> T {
    try KernelTestGate.check()
    let pid = ProcessInfo.processInfo.processIdentifier
    let names = tags.map { tag in
        let serial = namespaceCounter.add(1, ordering: .relaxed).newValue
        return "gvnl-\(tag)-\(pid)-\(serial)"
    }
    var created: [String] = []
    defer {
        for name in created.reversed() { _ = try? sh("ip", "netns", "del", name) }
    }
    for name in names {
        try sh("ip", "netns", "add", name)
        created.append(name)
    }
    return try await body(names)
}

/// One namespace with a VXLAN device `vx0` (VNI 42, port 4789, nolearning, proxy) made by the
/// module, and the handles to work on it.
public struct VXLANHost {
    public let namespace: String
    public let links: LinkSocket
    public let table: VXLANTable
    public let device: LinkInfo

    public init(namespace: String, local: String = "192.0.2.1", up: Bool = true) throws {
        self.namespace = namespace
        links = try LinkSocket(namespace: .named(namespace))
        device = try links.createVXLAN(
            named: "vx0", VXLANSettings(vni: 42, local: IPAddress(local), port: 4789, mtu: 1450))
        if up { try links.setUp("vx0") }
        table = try VXLANTable(namespace: .named(namespace))
    }

    /// `bridge fdb show dev vx0`, one line per row, as the kernel's own tool prints it.
    public func bridgeFDB() throws -> [String] {
        try sh("bridge", "-n", namespace, "fdb", "show", "dev", "vx0")
            .split(separator: "\n").map(String.init).filter { $0.contains(" dst ") }
    }

    /// `ip neigh show dev vx0` for both families.
    public func ipNeighbors() throws -> [String] {
        let v4 = try sh("ip", "-n", namespace, "-4", "neigh", "show", "dev", "vx0")
        let v6 = try sh("ip", "-n", namespace, "-6", "neigh", "show", "dev", "vx0")
        return (v4 + v6).split(separator: "\n").map(String.init)
    }
}

public func mac(_ text: String) throws -> MACAddress {
    guard let value = MACAddress(text) else { throw CommandFailed(command: ["mac", text], status: 1, output: "bad MAC") }
    return value
}

public func ip(_ text: String) throws -> IPAddress {
    guard let value = IPAddress(text) else { throw CommandFailed(command: ["ip", text], status: 1, output: "bad IP") }
    return value
}
