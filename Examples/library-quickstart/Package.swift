// swift-tools-version:6.1
// The examples of Docs/LIBRARY.md, verbatim (scripts/check-docs-examples.sh compares them), built
// the way a user's package builds them: from outside the Grapevine package, through `import Gossip`.
import Foundation
import PackageDescription

// A path dependency's identity is its directory's name; this checkout's may be anything.
let grapevine = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../..").standardizedFileURL.lastPathComponent

let package = Package(
    name: "library-quickstart",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: "../.."),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .executableTarget(
            name: "QuickStart",
            dependencies: [
                .product(name: "Gossip", package: grapevine),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "Events",
            dependencies: [
                .product(name: "Gossip", package: grapevine),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "Daemon",
            dependencies: [
                .product(name: "Gossip", package: grapevine),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
