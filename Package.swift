// swift-tools-version:6.0
// walaudit: a tamper-evident audit trail for PostgreSQL.
//
// Modules depend one way only:
//   Decoding (pure test_decoding grammar + JSON values)
//   PostgresClient (libpq)  ->  EmbeddedPostgres (throwaway clusters)
//   walaudit (CLI) depends on all of them.
import PackageDescription

let package = Package(
    name: "walaudit",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "walaudit", targets: ["walaudit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),
        .target(name: "Decoding"),
        .target(name: "PostgresClient", dependencies: ["CLibPQ"]),
        .target(name: "CProcess"),
        .target(name: "EmbeddedPostgres", dependencies: [
            "PostgresClient", "CProcess",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "walaudit", dependencies: [
            "Decoding", "PostgresClient", "EmbeddedPostgres",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "parser-bench", dependencies: ["Decoding", "EmbeddedPostgres", "PostgresClient"],
                          path: "bench/ParserBench"),
        .target(name: "TestSupport", dependencies: ["EmbeddedPostgres", "PostgresClient"],
                path: "Tests/TestSupport"),
        .testTarget(name: "DecodingTests", dependencies: ["Decoding"]),
        .testTarget(name: "IntegrationTests", dependencies: [
            "Decoding", "PostgresClient", "EmbeddedPostgres", "TestSupport", "walaudit",
        ]),
    ]
)
