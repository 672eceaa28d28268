// swift-tools-version:6.0
// walaudit: a tamper-evident audit trail for PostgreSQL (Linux only: Glibc,
// libpq, OpenSSL libcrypto).
//
// Modules, each depending only on those above it (arrows point at what a
// module uses). Pure modules do no I/O and never import libpq:
//
//   Decoding        pure   test_decoding grammar, JSON values, PostgreSQL value forms (LSN, timestamps, hex, text[], inet, binary COPY)
//   Replication     pure   replication protocol messages and the feedback state machine        -> Decoding
//   Ledger          pure   chain format (field table, canonical encoding), chain, verifiers,
//                          checkpoints and Ed25519 signing (libcrypto)                          -> Decoding
//   Capture         pure   committed transactions -> audit events (actors, keys, masking)       -> Decoding, Ledger
//   EvidenceReport  pure   the auditor's HTML report (verdict, SVG charts, timelines) from a model -> Decoding
//   PostgresClient  I/O    libpq: queries, COPY, errors, quoting, the replication transport     -> Decoding
//   Schema          I/O    sql/ embedded at build time, applied in order                         -> Decoding, PostgresClient
//   AuditStore      I/O    every statement against walaudit.* (events, position, checkpoints)   -> Capture, EvidenceReport, Ledger, PostgresClient, Schema
//   Service         I/O    the worker as a service: systemd notify, the /metrics endpoint, JSON log lines -> Decoding
//   Worker          I/O    the capture loop: session, handoff, batch writer, checkpoint signer,
//                          its Prometheus metrics (swift-prometheus)                             -> Replication, Capture, AuditStore, Service
//   EmbeddedPostgres I/O   throwaway clusters for tests and the demo                            -> PostgresClient
//   walaudit        CLI    one command per file                                                 -> all of the above
//
// Beside them: CLibPQ and CLibCrypto (system libraries: libpq, OpenSSL libcrypto), CProcess (a C shim for
// spawning child processes, used by EmbeddedPostgres), sql-embedder and the EmbedSQL build plugin (turn sql/
// into Schema's source), worker-bench, parser-bench, tree-bench and report-bench (bench/), TestSupport and the test targets.
import PackageDescription

let package = Package(
    name: "walaudit",
    products: [
        .executable(name: "walaudit", targets: ["walaudit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The Prometheus text format and atomic counters for `run --metrics-address`: the Swift Server
        // Workgroup's client (with swift-atomics and swift-metrics' CoreMetrics), a few seconds of build.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .target(name: "Decoding"),
        .target(name: "Replication", dependencies: ["Decoding"]),
        .target(name: "Ledger", dependencies: ["Decoding", "CLibCrypto"]),
        .target(name: "Capture", dependencies: ["Decoding", "Ledger"]),
        .target(name: "EvidenceReport", dependencies: ["Decoding"]),
        .target(name: "PostgresClient", dependencies: ["CLibPQ", "Decoding"]),
        .executableTarget(name: "sql-embedder", path: "Sources/SQLEmbedder"),
        .plugin(name: "EmbedSQL", capability: .buildTool(), dependencies: ["sql-embedder"]),
        .target(name: "Schema", dependencies: ["Decoding", "PostgresClient"], plugins: ["EmbedSQL"]),
        .target(name: "AuditStore", dependencies: ["Capture", "Decoding", "EvidenceReport", "Ledger", "PostgresClient", "Schema"]),
        .target(name: "Service", dependencies: [
            "Decoding",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Worker", dependencies: [
            "AuditStore", "Capture", "Decoding", "Ledger", "PostgresClient", "Replication", "Service",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .target(name: "CProcess"),
        .target(name: "EmbeddedPostgres", dependencies: [
            "PostgresClient", "CProcess",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "walaudit", dependencies: [
            "AuditStore", "Decoding", "EvidenceReport", "PostgresClient", "EmbeddedPostgres", "Schema", "Service", "Worker", "Ledger",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "worker-bench", dependencies: ["Decoding", "EmbeddedPostgres", "PostgresClient"],
                          path: "bench/WorkerBench"),
        .executableTarget(name: "parser-bench", dependencies: ["Decoding", "EmbeddedPostgres", "PostgresClient"],
                          path: "bench/ParserBench"),
        .executableTarget(name: "tree-bench", dependencies: ["Ledger"], path: "bench/TreeBench"),
        .executableTarget(name: "report-bench", dependencies: ["AuditStore", "Decoding", "Ledger", "PostgresClient"],
                          path: "bench/ReportBench"),
        .target(name: "TestSupport", dependencies: ["EmbeddedPostgres", "PostgresClient"],
                path: "Tests/TestSupport"),
        .testTarget(name: "DecodingTests", dependencies: ["Decoding"], exclude: ["Corpus"]),  // read by path
        .testTarget(name: "ReplicationTests", dependencies: ["Replication", "Decoding", "TestSupport"]),
        .testTarget(name: "LedgerTests", dependencies: ["Ledger", "Decoding", "TestSupport"]),
        .testTarget(name: "AssemblyTests", dependencies: ["Capture", "Ledger", "TestSupport"]),
        .testTarget(name: "EvidenceReportTests", dependencies: ["EvidenceReport"]),
        .testTarget(name: "IntegrationTests", dependencies: [
            "AuditStore", "Capture", "Decoding", "Ledger", "PostgresClient", "EmbeddedPostgres", "Service", "TestSupport", "Worker", "walaudit",
            .product(name: "Logging", package: "swift-log"),
        ], exclude: ["Fixtures"]),  // read by path (the previous main's sql/, for the upgrade tests)
    ]
)
