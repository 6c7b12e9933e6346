// swift-tools-version:6.1
import PackageDescription

/// Upcoming features that catch mistakes, on for every target (as swift-log does).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "stormlab",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "stormlab", targets: ["stormlab"]),
        .library(name: "Systemd", targets: ["Systemd"]),
        .library(name: "OverlayWire", targets: ["OverlayWire"]),
        .library(name: "Overlay", targets: ["Overlay"]),
        .library(name: "LabSpec", targets: ["LabSpec"]),
        .library(name: "Assertions", targets: ["Assertions"]),
        .library(name: "FaultProxy", targets: ["FaultProxy"]),
        .library(name: "Orchestrator", targets: ["Orchestrator"]),
        .library(name: "DockerEngine", targets: ["DockerEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // C shim over libsystemd (dlopen), SCM_CREDENTIALS and the fork/exec helper.
        .target(name: "CSystemd", linkerSettings: [.linkedLibrary("dl")]),
        .target(
            name: "Systemd",
            dependencies: [
                "CSystemd",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "OverlayWire",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Overlay",
            dependencies: [
                "OverlayWire",
                "Systemd",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "LabSpec",
            dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: strictSettings
        ),
        // A small Docker Engine API client over the engine's unix socket (HTTP/1.1 on NIO).
        .target(
            name: "DockerEngine",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // Runtimes, supervision, run folders, ledgers and cleanup.
        .target(
            name: "Orchestrator",
            dependencies: [
                "LabSpec",
                "Systemd",
                "Injectors",
                "DockerEngine",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The assertion engine: exposition parsing, series, SLI expressions, SLO verdicts. No I/O.
        .target(name: "Assertions", swiftSettings: strictSettings),
        // Scrapes instances' metrics and runs probes into the Assertions series store.
        .target(
            name: "Collector",
            dependencies: [
                "Assertions",
                "Systemd",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The fault-injecting TCP proxy: toxics per link and direction on live connections.
        .target(
            name: "FaultProxy",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The mechanisms that apply and revert faults: nftables, (later) the fault proxy and the
        // Docker engine.
        .target(name: "Injectors", dependencies: ["Systemd"], swiftSettings: strictSettings),
        // Every report a person or a CI system reads: JSON, JUnit XML, HTML with SVG, terminal.
        .target(name: "Reports", dependencies: ["Assertions"], swiftSettings: strictSettings),
        .executableTarget(
            name: "stormlab",
            dependencies: [
                "Overlay",
                "Collector",
                "FaultProxy",
                "Assertions",
                "Reports",
                "Orchestrator",
                "LabSpec",
                "Systemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "SystemdTests", dependencies: ["Systemd"], swiftSettings: strictSettings),
        .testTarget(name: "OverlayWireTests", dependencies: ["OverlayWire"], swiftSettings: strictSettings),
        .testTarget(name: "OverlayTests", dependencies: ["Overlay"], swiftSettings: strictSettings),
        .testTarget(name: "AssertionsTests", dependencies: ["Assertions"], swiftSettings: strictSettings),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Assertions"], swiftSettings: strictSettings),
        .testTarget(name: "CollectorTests", dependencies: ["Collector", "Overlay"], swiftSettings: strictSettings),
        .testTarget(name: "InjectorsTests", dependencies: ["Injectors", "Systemd"], swiftSettings: strictSettings),
        .testTarget(
            name: "FaultProxyTests",
            dependencies: [
                "FaultProxy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "LabSpecTests",
            dependencies: ["LabSpec", .product(name: "Yams", package: "Yams")],
            exclude: ["Fixtures"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DockerEngineTests",
            dependencies: [
                "DockerEngine",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "OrchestratorTests", dependencies: ["Orchestrator", "LabSpec"], swiftSettings: strictSettings),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["stormlab", "Systemd", "Orchestrator", "LabSpec", "DockerEngine"],
            swiftSettings: strictSettings
        ),
    ]
)
