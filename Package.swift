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
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .target(name: "Decoding"),
        .target(name: "Ledger", dependencies: ["Decoding", "CLibCrypto", "PostgresClient"]),
        .executableTarget(name: "sql-embedder", path: "Sources/SQLEmbedder"),
        .plugin(name: "EmbedSQL", capability: .buildTool(), dependencies: ["sql-embedder"]),
        .target(name: "Schema", dependencies: ["PostgresClient"], plugins: ["EmbedSQL"]),
        .target(name: "PostgresClient", dependencies: ["CLibPQ"]),
        .target(name: "Replication", dependencies: ["CLibPQ", "PostgresClient"]),
        .target(name: "Capture", dependencies: ["Decoding", "Ledger", "PostgresClient"]),
        .target(name: "Worker", dependencies: [
            "Capture", "Decoding", "Ledger", "PostgresClient", "Replication",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "CProcess"),
        .target(name: "EmbeddedPostgres", dependencies: [
            "PostgresClient", "CProcess",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "walaudit", dependencies: [
            "Decoding", "PostgresClient", "EmbeddedPostgres", "Schema", "Worker", "Ledger",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "worker-bench", dependencies: ["EmbeddedPostgres", "PostgresClient"],
                          path: "bench/WorkerBench"),
        .executableTarget(name: "parser-bench", dependencies: ["Decoding", "EmbeddedPostgres", "PostgresClient"],
                          path: "bench/ParserBench"),
        .target(name: "TestSupport", dependencies: ["EmbeddedPostgres", "PostgresClient"],
                path: "Tests/TestSupport"),
        .testTarget(name: "DecodingTests", dependencies: ["Decoding"]),
        .testTarget(name: "LedgerTests", dependencies: ["Ledger", "Decoding"]),
        .testTarget(name: "AssemblyTests", dependencies: ["Capture", "Ledger"]),
        .testTarget(name: "IntegrationTests", dependencies: [
            "Decoding", "Ledger", "PostgresClient", "EmbeddedPostgres", "TestSupport", "walaudit",
        ]),
    ]
)
