// swift-tools-version:6.1
// The examples of Docs/LIBRARY.md and Docs/SIMULATION.md (scripts/check-docs-examples.sh holds
// every Swift block of both pages to these files), built the way a user's package builds them:
// from outside the Grapevine package, which `../grapevine` (a link to the checkout) names with
// the identity the docs use.
import PackageDescription

let package = Package(
    name: "library-quickstart",
    platforms: [.macOS(.v14)],
    // docs: begin dependency
    // Package.swift
    dependencies: [
        // A checkout next to your package; or .package(url: "<this repository's clone URL>", branch: "main").
        // The identity, "grapevine" below, is the checkout's directory name (or the URL's last part).
        .package(path: "../grapevine", traits: []),  // the library alone: no agent, no tools
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),  // for ServiceGroup
    ],
    targets: [
        .executableTarget(name: "Daemon", dependencies: [
            .product(name: "Gossip", package: "grapevine"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // For tests on the simulator (Docs/SIMULATION.md):
        // docs: begin simulator-dependency
        .testTarget(name: "SimulationExampleTests", dependencies: [
            .product(name: "GossipSimulator", package: "grapevine"),
            .product(name: "GossipCore", package: "grapevine"),
        ]),
        // docs: end simulator-dependency
    ]
    // docs: end dependency
        + [
            .executableTarget(
                name: "QuickStart",
                dependencies: [.product(name: "Gossip", package: "grapevine"), .product(name: "Logging", package: "swift-log")]
            ),
            .executableTarget(
                name: "Events",
                dependencies: [.product(name: "Gossip", package: "grapevine"), .product(name: "Logging", package: "swift-log")]
            ),
            // The fragments of the pages, compiled, not run.
            .target(
                name: "Snippets",
                dependencies: [.product(name: "Gossip", package: "grapevine"), .product(name: "Logging", package: "swift-log")]
            ),
        ]
)
