// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// The Swift runtime and FoundationEssentials linked into the daemons (`grapevine`,
/// `gossip-node`), in release builds on Linux: 4.7 MiB less resident memory for an idle agent
/// (Docs/benchmarks/FOOTPRINT.md). Static FoundationEssentials does not name its layers itself,
/// and these flags come before the objects on the link line, so its layers are taken whole
/// (what nothing uses, `--gc-sections` drops again).
let staticRuntime: [LinkerSetting] = [
    .unsafeFlags(
        ["-static-stdlib", "-Xlinker", "--whole-archive", "-l_FoundationCollections", "-l_FoundationCShims",
         "-Xlinker", "--no-whole-archive", "-lswiftSynchronization"],
        .when(platforms: [.linux], configuration: .release)),
]

let package = Package(
    name: "Grapevine",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "GossipCore", targets: ["GossipCore"]),
        .library(name: "GossipWire", targets: ["GossipWire"]),
        .library(name: "GossipSimulator", targets: ["GossipSimulator"]),
        .library(name: "Netlink", targets: ["Netlink"]),
        .library(name: "Overlay", targets: ["Overlay"]),
        .executable(name: "grapevine-sim", targets: ["grapevine-sim"]),
        .library(name: "Gossip", targets: ["Gossip"]),
        .executable(name: "gossip-node", targets: ["gossip-node"]),
        .executable(name: "grapevine", targets: ["grapevine"]),
        .executable(name: "agent-bench", targets: ["agent-bench"]),
    ],
    traits: [
        .trait(name: "Agent", description: "The grapevine agent and the command-line tools; off for a library-only consumer."),
        .default(enabledTraits: ["Agent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // Without its default traits: `FullFoundation` and `ConfigurationSupport` link the whole of
        // Foundation and ICU (Docs/benchmarks/FOOTPRINT.md).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Without `SubprocessFoundation`, for the same reason.
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2", traits: []),
    ],
    targets: [
        // MARK: system libraries
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "CNetlink",
            pkgConfig: "libnl-route-3.0",
            providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]
        ),

        // MARK: membership core (pure)
        .target(name: "GossipCore", swiftSettings: strict),

        // MARK: wire format
        .target(
            name: "GossipWire",
            dependencies: ["GossipCore", "CSodium", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),

        // MARK: runtime (SwiftNIO shell around the core, public library API)
        .target(
            name: "Gossip",
            dependencies: [
                "GossipCore", "GossipWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "gossip-node",
            dependencies: [
                "Gossip",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser", condition: .when(traits: ["Agent"])),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict,
            linkerSettings: staticRuntime
        ),

        // MARK: netlink
        // MAC and IP address values, shared by the kernel side (Netlink) and the pure model (Overlay).
        .target(name: "Addresses", swiftSettings: strict),
        .target(name: "Netlink", dependencies: ["CNetlink", "Addresses"], swiftSettings: strict),

        // MARK: overlay model (pure: desired kernel state from the replicated rows, and the diff)
        .target(name: "Overlay", dependencies: ["Addresses"], swiftSettings: strict),
        // MARK: DNS (the codec of the agent's name service; protocol code, fuzzed by dns-fuzz)
        .target(name: "DNS", dependencies: [.product(name: "NIOCore", package: "swift-nio")], swiftSettings: strict),
        // MARK: control API (the JSON bodies; shared by the agent and the CLI, no Foundation)
        .target(name: "GrapevineAPI", swiftSettings: strict),
        // HTTP/1.1 to a local daemon over a Unix socket or TCP: the CLI to the agent, the agent to dockerd.
        .target(
            name: "LocalHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // MARK: agent (wires Gossip + Overlay + Netlink; the control API, handlers, metrics)
        .target(
            name: "OverlayAgent",
            dependencies: [
                "Overlay", "Netlink", "Addresses", "Gossip", "GrapevineAPI", "LocalHTTP", "DNS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Agent"])),
                .product(name: "Prometheus", package: "swift-prometheus", condition: .when(traits: ["Agent"])),
                .product(name: "Subprocess", package: "swift-subprocess", condition: .when(traits: ["Agent"])),
            ],
            swiftSettings: strict
        ),
        // The command line: `grapevine agent` runs the daemon, the rest talk to its control API.
        .executableTarget(
            name: "grapevine",
            dependencies: [
                "OverlayAgent", "Gossip", "GrapevineAPI", "LocalHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser", condition: .when(traits: ["Agent"])),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict,
            linkerSettings: staticRuntime
        ),

        // MARK: simulator
        .target(
            name: "GossipSimulator",
            dependencies: ["GossipCore"],
            path: "Simulations/GossipSimulator",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "grapevine-sim",
            dependencies: [
                "GossipSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser", condition: .when(traits: ["Agent"])),
            ],
            path: "Simulations/grapevine-sim",
            swiftSettings: strict
        ),

        // MARK: benchmarks (release build, write to Docs/)
        .executableTarget(
            name: "netlink-bench",
            dependencies: ["Netlink", "GrapevineTestSupport"],
            path: "Benchmarks/netlink-bench",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "gossip-bench",
            dependencies: [
                "GossipCore", "GossipSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser", condition: .when(traits: ["Agent"])),
            ],
            path: "Benchmarks/gossip-bench",
            swiftSettings: strict
        ),
        // The agent's figures against Serf and the kernel's tools (as root; makes its own namespaces).
        .executableTarget(
            name: "agent-bench",
            dependencies: [
                "OverlayAgent", "Overlay", "Netlink", "Addresses", "GrapevineTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser", condition: .when(traits: ["Agent"])),
            ],
            path: "Benchmarks/agent-bench",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "event-sim-bench",
            dependencies: ["GossipSimulator"],
            path: "Benchmarks/event-sim-bench",
            swiftSettings: strict
        ),
        // Heap bytes in use, for state-sim-bench's memory per row.
        .target(name: "StateBenchHeap", path: "Benchmarks/state-sim-bench/Heap"),
        .executableTarget(
            name: "state-sim-bench",
            dependencies: ["GossipSimulator", "GossipCore", "Overlay", "Addresses", "StateBenchHeap"],
            path: "Benchmarks/state-sim-bench",
            exclude: ["Heap"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "sim-bench",
            dependencies: ["GossipSimulator"],
            path: "Benchmarks/sim-bench",
            swiftSettings: strict
        ),
        // Counts malloc calls for the allocations-per-packet figure of wire-bench.
        .target(name: "WireBenchMallocCounter", path: "Benchmarks/wire-bench/MallocCounter"),
        .executableTarget(
            name: "wire-bench",
            dependencies: [
                "GossipWire", "GossipCore", "WireBenchMallocCounter",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/wire-bench",
            exclude: ["MallocCounter"],
            swiftSettings: strict
        ),

        // MARK: fuzzing (scripts/fuzz-wire.sh builds it with -sanitize=fuzzer; plain builds replay files)
        .executableTarget(
            name: "wire-fuzz",
            dependencies: ["GossipWire", "GossipCore", "FuzzSupport", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/wire-fuzz",
            swiftSettings: strict
        ),
        // What every fuzz target shares: file reading and replay, libFuzzer's driver.
        .target(name: "FuzzSupport", path: "Fuzz/FuzzSupport", swiftSettings: strict),
        // scripts/fuzz-core.sh: live GossipInstance values driven by a script, fed what the codec accepts.
        .executableTarget(
            name: "core-fuzz",
            dependencies: ["GossipWire", "GossipCore", "FuzzSupport", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/core-fuzz",
            swiftSettings: strict
        ),

        // scripts/fuzz-dns.sh: the DNS codec, and the overlay's endpoint rows the names come from.
        .executableTarget(
            name: "dns-fuzz",
            dependencies: ["DNS", "Overlay", "FuzzSupport", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/dns-fuzz",
            swiftSettings: strict
        ),

        // MARK: tests
        .testTarget(name: "DNSTests", dependencies: ["DNS", "GrapevineTestSupport", .product(name: "NIOCore", package: "swift-nio")], swiftSettings: strict),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CSodium", "CNetlink"], swiftSettings: strict),
        .testTarget(name: "GossipCoreTests", dependencies: ["GossipCore"], swiftSettings: strict),
        .testTarget(
            name: "GossipSimulatorTests", dependencies: ["GossipSimulator", "GossipCore", "Overlay", "Addresses"],
            swiftSettings: strict),
        .testTarget(
            name: "WireSimulationTests",
            dependencies: ["GossipSimulator", "GossipWire", "GossipCore", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        .testTarget(name: "GossipWireTests", dependencies: ["GossipWire", "GossipCore"], swiftSettings: strict),
        // Shell commands, network namespaces and the root gate shared by the kernel tests.
        .target(name: "GrapevineTestSupport", dependencies: ["Netlink"], path: "Tests/GrapevineTestSupport", swiftSettings: strict),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink", "GrapevineTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "OverlayAgentTests",
            dependencies: [
                "OverlayAgent", "Overlay", "Addresses", "Netlink", "GrapevineTestSupport", "DNS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "OverlayTests", dependencies: ["Overlay", "Addresses", "GrapevineTestSupport"], swiftSettings: strict),
        // Real `grapevine agent` processes in namespaces the tests make (needs the built executable).
        .testTarget(name: "AgentEndToEndTests", dependencies: ["GrapevineTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "AgentConfigurationTests", dependencies: ["OverlayAgent", "Overlay", "Addresses", "GrapevineTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "AgentOpsTests",
            dependencies: [
                "OverlayAgent",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // The control API server against an in-memory AgentControl, and the grapevine CLI against it.
        .testTarget(
            name: "AgentAPITests",
            dependencies: [
                "OverlayAgent", "LocalHTTP",
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Agent"])),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "GossipTests",
            dependencies: [
                "Gossip", "GossipCore", "GossipWire", "GrapevineTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
    ]
)
